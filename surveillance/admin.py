from django.contrib import admin
from django.db.models import Q
from simple_history.admin import SimpleHistoryAdmin

from audit.mixins import AuditedAdminMixin
from cohorts.access import cohorts_for
from cohorts.admin_scope import CohortScopedAdmin

from .care_teams import in_cohorts
from .models import Flag, FlagEscalation, Holiday, LesionReport


@admin.register(Holiday)
class HolidayAdmin(CohortScopedAdmin, admin.ModelAdmin):
    """Local closures review deadlines skip, per site (public holidays come from the
    cohort's country and subdivision). A user sees every site's and their own sites'."""

    list_display = ("day", "name", "site")
    list_filter = ("site",)
    date_hierarchy = "day"

    def scope(self, queryset, user):
        sites = cohorts_for(user).values("site")
        return queryset.filter(Q(site="") | Q(site__in=sites))


class FlagEscalationInline(admin.TabularInline):
    model = FlagEscalation
    fields = ("level", "escalated_at", "notified")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Flag)
class FlagAdmin(AuditedAdminMixin, CohortScopedAdmin, SimpleHistoryAdmin):
    """Review steps go through the API (acknowledge, resolve): here they are read-only."""

    audit_object_type = "flag"
    list_display = ("id", "patient", "urgency", "status", "review_due_at", "outcome")
    list_filter = ("urgency", "status", "patient__cohort")
    date_hierarchy = "review_due_at"
    readonly_fields = [field.name for field in Flag._meta.fields]
    inlines = [FlagEscalationInline]

    list_select_related = ("patient",)

    def scope(self, queryset, user):
        return queryset.filter(in_cohorts(cohorts_for(user)))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a flag is resolved, never lost (erasure has its own path: records)


@admin.register(LesionReport)
class LesionReportAdmin(AuditedAdminMixin, CohortScopedAdmin, admin.ModelAdmin):
    audit_object_type = "lesion_report"
    cohort_path = "patient__cohort"
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

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # what a patient reported is kept (erasure has its own path: records)
