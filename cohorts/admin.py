from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from audit.mixins import AuditedAdminMixin
from notifications.models import ConsentSource

from . import contacts, services
from .admin_forms import PatientAdminForm
from .admin_scope import CohortScopedAdmin
from .models import Cohort, Patient, RiskAssessment, TumourProfile


@admin.register(Cohort)
class CohortAdmin(CohortScopedAdmin, admin.ModelAdmin):
    cohort_path = "pk"
    list_display = ("name", "site", "is_active", "created_on")
    list_filter = ("site", "is_active")
    search_fields = ("name", "site")
    filter_horizontal = ("coordinators", "clinical_leads")


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
class PatientAdmin(AuditedAdminMixin, CohortScopedAdmin, SimpleHistoryAdmin):
    """Every page that shows a patient, and every save, is audit-logged."""

    form = PatientAdminForm
    list_display = ("last_name", "first_name", "mrn", "cohort", "risk_tier", "sms_consent")
    list_filter = ("cohort", "risk_tier", "contact__sms_consent", "contact__language")
    search_fields = ("last_name", "first_name", "mrn")
    readonly_fields = (
        "risk_tier",
        "sms_status",
        "withdrawn_on",
        "withdrawal_reason",
        "erased_at",
        "created_on",
        "modified_on",
        "audit_trail",
    )
    inlines = [TumourProfileInline, RiskAssessmentInline]
    audit_object_type = "patient"

    list_select_related = ("cohort", "contact")

    @admin.display(boolean=True, description="SMS consent")
    def sms_consent(self, patient):
        return patient.contact.sms_consent

    @admin.display(description="SMS status")
    def sms_status(self, patient):
        if patient is None or not patient.contact_id:
            return "-"
        return patient.contact.refusal() or "Can receive SMS."

    def save_model(self, request, obj, form, change):
        """The phone's details go to its contact first: a patient always has one."""
        zone = obj.timezone if change else obj.cohort.timezone
        contacts.bind([obj], [form.phone_details()], ConsentSource.STAFF, default_timezone=zone)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False  # clinical record: deactivate instead

    def has_change_permission(self, request, obj=None):
        """An erased record is shown, never changed."""
        erased = obj is not None and obj.erased_at is not None
        return not erased and super().has_change_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        """The profile is saved with the inlines: only then can risk and plan follow."""
        super().save_related(request, form, formsets, change)
        services.reassess_and_replan([form.instance], by=request.user)

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:audit_auditevent_changelist")
        return format_html(
            '<a href="{}?patient__id__exact={}">Who saw or changed this record</a>', url, obj.pk
        )
