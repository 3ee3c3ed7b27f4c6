"""The audit trail in the admin: read-only, for those granted `audit.view_auditevent`."""

from django.contrib import admin
from django.utils.html import format_html

from .mixins import ReadOnlyAdminMixin
from .models import AuditEvent


class _IdListFilter(admin.SimpleListFilter):
    """Filter by an id given in the query string (`?patient__id__exact=12`).

    There is no list of every patient or user to pick from: the filter is
    reached from a patient's page or a row's link, and shows the id in use.
    """

    field = ""

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, self.label(value))] if value else []

    def label(self, value) -> str:
        return f"#{value}"

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(**{self.field: int(value)})


class AuditPatientFilter(_IdListFilter):
    """A patient's own rows and the lists they were on."""

    title = "patient"
    parameter_name = "patient__id__exact"

    def label(self, value) -> str:
        return f"patient #{value}"

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.about(int(value)) if value.isdigit() else queryset.none()


class AuditUserFilter(_IdListFilter):
    title = "user"
    parameter_name = "user__id__exact"
    field = "user_id"

    def label(self, value) -> str:
        username = (
            AuditEvent.objects.filter(user_id=value).values_list("username", flat=True).first()
            if value.isdigit()
            else None
        )
        return username or f"user #{value}"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail, read-only: filter it by patient, by user, by action."""

    list_display = (
        "at",
        "user_link",
        "action",
        "object_type",
        "object_id",
        "patient_link",
        "ip_address",
        "reason",
    )
    list_filter = ("action", "object_type", AuditPatientFilter, AuditUserFilter)
    search_fields = ("=username", "=object_id", "reason")
    ordering = ("-at", "-id")
    actions = None
    list_per_page = 100
    show_full_result_count = False  # no COUNT(*) over the whole trail on every page

    @admin.display(description="user", ordering="username")
    def user_link(self, event):
        if event.user_id is None:
            return event.username or "-"
        return format_html(
            '<a href="?user__id__exact={}">{}</a>', event.user_id, event.username or event.user_id
        )

    @admin.display(description="patient", ordering="patient_id")
    def patient_link(self, event):
        if event.patient_id is None:
            count = len(event.patient_ids)
            return f"{count} patients" if count else "-"
        return format_html(
            '<a href="?patient__id__exact={}">{}</a>', event.patient_id, event.patient_id
        )
