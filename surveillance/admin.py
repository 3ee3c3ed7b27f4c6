from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .access import cohorts_for, is_admin, patients_for
from .audit import AuditedAdminMixin
from .models import (
    AuditEvent,
    Cohort,
    Flag,
    FlagEscalation,
    Holiday,
    LesionReport,
    Patient,
    RiskAssessment,
    TumourProfile,
)


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "is_active", "created_on")
    list_filter = ("site", "is_active")
    search_fields = ("name", "site")
    filter_horizontal = ("coordinators", "clinical_leads")

    def get_queryset(self, request):
        return cohorts_for(request.user)


class TumourProfileInline(admin.StackedInline):
    model = TumourProfile
    can_delete = False
    min_num = 1


class RiskAssessmentInline(admin.TabularInline):
    model = RiskAssessment
    fields = ("tier", "reasons", "rule_version", "assessed_at", "assessed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Patient)
class PatientAdmin(AuditedAdminMixin, SimpleHistoryAdmin):
    """Every page that shows a patient, and every save, is audit-logged."""

    list_display = ("last_name", "first_name", "mrn", "cohort", "risk_tier", "sms_consent")
    list_filter = ("cohort", "risk_tier", "sms_consent", "language")
    search_fields = ("last_name", "first_name", "mrn")
    readonly_fields = ("risk_tier", "sms_consent_at", "created_on", "modified_on", "audit_trail")
    inlines = [TumourProfileInline, RiskAssessmentInline]
    audit_object_type = "patient"

    def get_queryset(self, request):
        return patients_for(request.user).select_related("cohort")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "cohort":
            kwargs["queryset"] = cohorts_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        """The profile is saved with the inlines: only then can risk and plan follow."""
        super().save_related(request, form, formsets, change)
        services.reassess_and_replan([form.instance], by=request.user)

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:surveillance_auditevent_changelist")
        return format_html(
            '<a href="{}?patient__id__exact={}">Who saw or changed this record</a>', url, obj.pk
        )


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
    title = "patient"
    parameter_name = "patient__id__exact"
    field = "patient_id"

    def label(self, value) -> str:
        return f"patient #{value}"


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
class AuditEventAdmin(admin.ModelAdmin):
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
            return "-"
        return format_html(
            '<a href="?patient__id__exact={}">{}</a>', event.patient_id, event.patient_id
        )

    def has_module_permission(self, request):
        return is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_admin(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    """Days review deadlines skip: edit the list here."""

    list_display = ("day", "name")
    date_hierarchy = "day"


class FlagEscalationInline(admin.TabularInline):
    model = FlagEscalation
    fields = ("level", "escalated_at", "notified")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Flag)
class FlagAdmin(AuditedAdminMixin, SimpleHistoryAdmin):
    """Review steps go through the API (acknowledge, resolve): here they are read-only."""

    audit_object_type = "flag"
    list_display = ("id", "patient", "urgency", "status", "review_due_at", "outcome")
    list_filter = ("urgency", "status", "patient__cohort")
    date_hierarchy = "review_due_at"
    readonly_fields = [field.name for field in Flag._meta.fields]
    inlines = [FlagEscalationInline]

    def get_queryset(self, request):
        return Flag.objects.filter(patient__in=patients_for(request.user)).select_related("patient")

    def has_add_permission(self, request):
        return False


@admin.register(LesionReport)
class LesionReportAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_object_type = "lesion_report"
    list_display = ("id", "patient", "channel", "complete", "created_at")
    list_filter = ("channel", "complete", "patient__cohort")
    readonly_fields = (
        "patient",
        "channel",
        "answers",
        "complete",
        "note",
        "created_at",
        "created_by",
    )
    exclude = ("messages",)

    def get_queryset(self, request):
        return LesionReport.objects.filter(patient__in=patients_for(request.user))

    def has_add_permission(self, request):
        return False
