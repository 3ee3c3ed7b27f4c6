"""The admin, scoped like the API: one mixin decides what an admin page may show.

Every admin of a record that belongs to a cohort uses `CohortScopedAdmin`:

- its rows are the user's cohorts' (`scope`, from `cohorts.access`, the same
  rule the API uses), so changelists, change, delete and history pages and
  actions see nothing else; a record of another cohort is as unknown as one
  that does not exist;
- every foreign-key choice (selects, raw-id values) comes from the scoped
  rows of the related model's admin: no record of another cohort can be
  chosen;
- relation filters list only what the user's rows point at
  (`RelatedOnlyFieldListFilter`), never every cohort's name and site;
- the history pages (django-simple-history) answer 404 for a record out of
  scope, instead of falling back to the history table, and are read-only:
  a revert would bypass the workflow and its validation;
- asking for a record out of scope leaves a `denied` row in the audit trail
  (with whose record it was, if it exists): the answer says nothing, the
  trail keeps the probe.
"""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit import trail

from .access import cohorts_for


class CohortScopedAdmin:
    """Put it before `admin.ModelAdmin` (or `SimpleHistoryAdmin`) in the bases."""

    cohort_path = "cohort"
    """The lookup from the model to its cohort ("pk" for the cohort itself)."""

    def scope(self, queryset, user):
        """The rows of `queryset` the user may see; override where a path is not enough."""
        return queryset.filter(**{f"{self.cohort_path}__in": cohorts_for(user)})

    def get_queryset(self, request):
        return self.scope(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = self.admin_site._registry.get(db_field.related_model)
        if "queryset" not in kwargs and isinstance(related, CohortScopedAdmin):
            kwargs["queryset"] = related.get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        return [self._scoped_filter(entry) for entry in super().get_list_filter(request)]

    def _scoped_filter(self, entry):
        if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
            return (entry, admin.RelatedOnlyFieldListFilter)
        return entry

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            self._record_probe(request, object_id)
        return obj

    def _in_scope_or_404(self, request, object_id) -> None:
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            self._record_probe(request, object_id)
            raise Http404

    def _record_probe(self, request, object_id) -> None:
        whose = getattr(self, "audit_patient_id", None)  # admins of patient records say whose
        object_type = self.model._meta.model_name
        trail.record_probe(request, self.model, unquote(object_id), object_type, whose)

    def history_view(self, request, object_id, extra_context=None):
        self._in_scope_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._in_scope_or_404(request, object_id)
        if request.method != "GET":
            raise PermissionDenied("History is read-only: change the record itself.")
        return super().history_form_view(request, object_id, version_id, extra_context)
