from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .access import cohorts_for, patients_for
from .models import Cohort, Patient, RiskAssessment, TumourProfile


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
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ("last_name", "first_name", "mrn", "cohort", "risk_tier", "sms_consent")
    list_filter = ("cohort", "risk_tier", "sms_consent", "language")
    search_fields = ("last_name", "first_name", "mrn")
    readonly_fields = ("risk_tier", "sms_consent_at", "created_on", "modified_on")
    inlines = [TumourProfileInline, RiskAssessmentInline]

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
