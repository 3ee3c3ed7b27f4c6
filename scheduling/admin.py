from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse

from audit.mixins import AuditedAdminMixin
from cohorts.access import patients_for

from . import dry_run
from .models import (
    InvalidProtocol,
    Protocol,
    ProtocolReminderRule,
    ProtocolVisitRule,
    ReminderSeries,
    SchedulerHeartbeat,
    Visit,
)
from .tasks import replan_everyone


class DraftOnlyInline(admin.TabularInline):
    """Rules of a draft are editable; an active or retired version is frozen."""

    extra = 0

    def _editable(self, obj) -> bool:
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class VisitRuleInline(DraftOnlyInline):
    model = ProtocolVisitRule


class ReminderRuleInline(DraftOnlyInline):
    model = ProtocolReminderRule


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "status", "activated_on", "created_by")
    list_filter = ("status",)
    readonly_fields = ("version", "status", "activated_on", "created_on", "created_by")
    inlines = [VisitRuleInline, ReminderRuleInline]
    actions = ["make_draft", "activate"]

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.is_editable) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.is_editable) and super().has_delete_permission(request, obj)

    @admin.action(description="Copy into a new draft version", permissions=["add"])
    def make_draft(self, request, queryset):
        for protocol in queryset:
            draft = protocol.new_draft(by=request.user)
            self.message_user(request, f"Created draft version {draft.version}.")

    @admin.action(
        description="Activate the draft and re-plan every patient (shows a dry run first)",
        permissions=["change"],
    )
    def activate(self, request, queryset):
        """First a dry run of the next 12 months to confirm; the confirmed POST activates."""
        if queryset.count() != 1 or not queryset.get().is_editable:
            self.message_user(request, "Choose exactly one draft.", level=messages.ERROR)
            return None
        draft = queryset.get()
        problems = draft.problems()
        if not problems and request.POST.get("confirmed") != "yes":
            return self._dry_run_page(request, draft)
        try:
            with transaction.atomic():
                draft.activate()
                transaction.on_commit(replan_everyone.delay)
        except InvalidProtocol as exc:
            for problem in exc.problems:
                self.message_user(request, problem, level=messages.ERROR)
            self.message_user(request, "Not activated: nothing changed.", level=messages.ERROR)
            return None
        self.message_user(request, f"Version {draft.version} is active; re-planning started.")
        return None

    def _dry_run_page(self, request, draft: Protocol):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Activate version {draft.version}? What changes in the next 12 months",
            "opts": self.model._meta,
            "draft": draft,
            "active": Protocol.objects.filter(status=Protocol.Status.ACTIVE).first(),
            "tiers": dry_run.compare(draft),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/scheduling/protocol/activate_dry_run.html", context)


@admin.register(Visit)
class VisitAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Visits name their patient: every page and save is audit-logged."""

    audit_object_type = "visit"
    list_display = ("patient", "kind", "due_date", "window_end", "status", "booked_at")
    list_filter = ("status", "kind", "patient__cohort")
    date_hierarchy = "due_date"
    raw_id_fields = ("patient",)
    readonly_fields = ("protocol", "status_changed_at", "status_changed_by")

    def get_queryset(self, request):
        return Visit.objects.filter(patient__in=patients_for(request.user)).select_related(
            "patient"
        )


@admin.register(ReminderSeries)
class ReminderSeriesAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_object_type = "reminder_series"
    list_display = ("patient", "kind", "rule", "next_due_at", "is_active")
    list_filter = ("is_active", "kind")
    readonly_fields = ("patient", "protocol", "kind", "rule", "dtstart", "timezone")
    raw_id_fields = ("patient",)

    def get_queryset(self, request):
        return ReminderSeries.objects.filter(patient__in=patients_for(request.user))


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("beat_at", "worker")
