"""The admin's autocomplete (`/admin/autocomplete/`), audited as the changelists are.

Django's view answers the search boxes of relation fields (and anyone who asks
it directly) with each matching record's id and name: for a patient, their
name and MRN. When the records listed are an audited admin's
(`AuditedAdminMixin`), each answer is recorded as one list row, with the ids
it returned and their patients, like a changelist page. `config/urls.py` serves
it at the admin's own address, through the admin's own checks (`admin_view`).
"""

from django.contrib.admin.views.autocomplete import AutocompleteJsonView

from .mixins import AuditedAdminMixin
from .trail import record_list


class AuditedAutocompleteJsonView(AutocompleteJsonView):
    def get(self, request, *args, **kwargs):
        self._listed = []
        response = super().get(request, *args, **kwargs)
        model_admin = self.model_admin
        if self._listed and isinstance(model_admin, AuditedAdminMixin):
            field = self.source_field
            record_list(
                request,
                [(model_admin.audit_patient_id(obj), obj.pk) for obj in self._listed],
                model_admin.audit_object_type,
                f"admin:autocomplete for {field.model._meta.label_lower}.{field.name}",
            )
        return response

    def get_context_data(self, **kwargs):
        """The page, evaluated once here: the rows recorded are the rows answered."""
        context = super().get_context_data(**kwargs)
        context["object_list"] = self._listed = list(context["object_list"])
        return context
