from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse
from rest_framework.exceptions import ValidationError

from audit import trail
from audit.mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from cohorts.admin_scope import CohortScopedAdmin

from . import dry_run
from .models import (
    InvalidProtocol,
    InvalidTransition,
    Protocol,
    ProtocolReminderRule,
    ProtocolVisitRule,
    ReminderSeries,
    SchedulerHeartbeat,
    Visit,
)
from .serializers import plausible_appointment
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
                reason = f"activated version {draft.version}; re-planning every patient"
                trail.record(request, trail.Action.UPDATE, None, "protocol", draft.pk, reason)
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


class VisitAdminForm(forms.ModelForm):
    """Only the appointment, its place and the note: the status moves by the workflow."""

    class Meta:
        model = Visit
        fields = ["booked_at", "location", "note"]

    def clean_booked_at(self):
        booked_at = self.cleaned_data["booked_at"]
        if booked_at == self.instance.booked_at:
            return booked_at
        if booked_at is None:
            raise forms.ValidationError(
                "To drop the appointment, cancel the visit or mark it missed (actions)."
            )
        if Visit.Status.BOOKED not in Visit.TRANSITIONS[self.instance.status]:
            raise forms.ValidationError(f"A {self.instance.status} visit cannot be booked.")
        try:
            plausible_appointment(booked_at)
        except ValidationError as exc:
            raise forms.ValidationError(exc.detail) from exc
        return booked_at

    def clean(self):
        """A new place of a booked appointment is a booking again (`VisitAdmin.save_model`):
        refused, with nothing saved, where the workflow ends (completed, cancelled). The note
        is no transition: it may be corrected whatever the status."""
        cleaned = super().clean()
        status = self.instance.status
        if "location" not in self.changed_data or not cleaned.get("booked_at"):
            return cleaned
        if Visit.Status.BOOKED not in Visit.TRANSITIONS[status]:
            self.add_error(
                "location",
                f"A {status} visit cannot be booked again, so its place stays as it was: "
                "write any correction in the note.",
            )
        elif status != Visit.Status.BOOKED and "booked_at" not in self.changed_data:
            self.add_error(
                "booked_at",
                f"A {status} visit is booked again at a new time: give the new appointment's "
                "time with its place.",
            )
        return cleaned


@admin.register(Visit)
class VisitAdmin(AuditedAdminMixin, CohortScopedAdmin, admin.ModelAdmin):
    """Visits name their patient: every page and save is audit-logged.

    Booking (a new time or place) goes through `Visit.book` (who, when, the
    reminders); completing, missing and cancelling are actions, each through
    the workflow. Visits come from the plan or a flag: none is added or
    deleted here.
    """

    audit_object_type = "visit"
    cohort_path = "patient__cohort"
    form = VisitAdminForm
    list_display = ("patient", "kind", "due_date", "window_end", "status", "booked_at")
    list_filter = ("status", "kind", "patient__cohort")
    list_select_related = ("patient",)
    date_hierarchy = "due_date"
    readonly_fields = (
        "patient",
        "protocol",
        "kind",
        "due_date",
        "window_start",
        "window_end",
        "status",
        "next_reminder_at",
        "status_changed_at",
        "status_changed_by",
    )
    actions = ["mark_completed", "mark_missed", "cancel_visits"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.booked_at and {"booked_at", "location"} & set(form.changed_data):
            obj.book(obj.booked_at, obj.location, by=request.user)

    def _move_each(self, request, queryset, step: str) -> None:
        moved = 0
        for visit in queryset:
            try:
                getattr(visit, step)(by=request.user)
            except InvalidTransition as exc:
                self.message_user(request, f"{visit}: {exc}", level=messages.WARNING)
            else:
                moved += 1
        self.message_user(request, f"{moved} visit(s) changed.")

    @admin.action(description="Mark completed", permissions=["change"])
    def mark_completed(self, request, queryset):
        self._move_each(request, queryset, "complete")

    @admin.action(description="Mark missed", permissions=["change"])
    def mark_missed(self, request, queryset):
        self._move_each(request, queryset, "miss")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_visits(self, request, queryset):
        self._move_each(request, queryset, "cancel")


@admin.register(ReminderSeries)
class ReminderSeriesAdmin(
    AuditedAdminMixin, CohortScopedAdmin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Series come from the plan: read here, never edited (re-planning owns them)."""

    audit_object_type = "reminder_series"
    cohort_path = "patient__cohort"
    list_display = ("patient", "kind", "rule", "next_due_at", "is_active")
    list_filter = ("is_active", "kind")
    list_select_related = ("patient",)


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("beat_at", "worker")
