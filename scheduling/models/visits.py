"""Follow-up visits, materialised with their due date and window, and their workflow."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from cohorts.models import Cohort, Patient
from notifications.models import Message
from notifications.validators import validate_sms_safe

from .protocols import Protocol, ProtocolVisitRule

# How an appointment time is written in its reminders' keys (UTC).
REMINDER_KEY_STAMP = "%Y%m%dT%H%M%SZ"


class InvalidTransition(Exception):
    """A visit cannot move from its status to the one asked for."""


class Visit(models.Model):
    """One follow-up visit, materialised with its due date and window.

    A window comes from a protocol rule (due date ± its `window_days`) or is an
    urgent visit's week: never wider than `widest_window()`.
    """

    class Kind(models.TextChoices):
        CLINIC = "clinic"
        IMAGING = "imaging"
        URGENT = "urgent"

    class Status(models.TextChoices):
        PLANNED = "planned"
        BOOKED = "booked"
        COMPLETED = "completed"
        MISSED = "missed"
        CANCELLED = "cancelled"

    class State(models.TextChoices):
        NOT_DUE = "not_due"
        DUE_SOON = "due_soon"
        DUE = "due"
        OVERDUE = "overdue"
        DONE = "done"

    # Which statuses a visit may move to from each status.
    TRANSITIONS = {
        Status.PLANNED: {Status.BOOKED, Status.COMPLETED, Status.MISSED, Status.CANCELLED},
        Status.BOOKED: {Status.BOOKED, Status.COMPLETED, Status.MISSED, Status.CANCELLED},
        Status.MISSED: {Status.BOOKED, Status.COMPLETED, Status.CANCELLED},
        Status.COMPLETED: set(),
        Status.CANCELLED: set(),
    }
    # Statuses a coordinator acted on: re-planning never touches these.
    ACTED_ON = (Status.BOOKED, Status.COMPLETED, Status.MISSED)
    # Statuses that still owe the patient a visit.
    OPEN = (Status.PLANNED, Status.BOOKED, Status.MISSED)
    DUE_SOON_DAYS = 14
    URGENT_WINDOW = timedelta(days=7)  # an urgent visit (a lesion flag's) is due within a week

    # Found by patient through `visit_patient_due`, which leads with it.
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="visits", db_index=False
    )
    # The patient's cohort, copied (on save, by planning, and when a patient moves: see
    # scheduling.services.replan), so that a cohort's overdue visits are found from the
    # partial indexes below without walking every patient of the cohort.
    cohort = models.ForeignKey(
        Cohort, on_delete=models.PROTECT, related_name="+", editable=False, db_index=False
    )
    protocol = models.ForeignKey(
        Protocol,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
        help_text="The protocol version this visit was planned from (blank: added by staff).",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    due_date = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    booked_at = models.DateTimeField(null=True, blank=True, help_text="Appointment date and time.")
    location = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_sms_safe],
        help_text="Named in the patient's SMS: a building or room, never a diagnosis.",
    )
    note = models.TextField(blank=True)
    # The next SMS reminder of a booked visit (7 days, then 1 day before);
    # the due-sweep claims rows whose time has come.
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # `visit_status_changed_by`: only the visits someone acted on
    )
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_date", "kind", "id"]
        indexes = [
            models.Index(fields=["patient", "due_date"], name="visit_patient_due"),
            # Deleting a user clears their name from the visits they acted on: few of all.
            models.Index(
                fields=["status_changed_by"],
                condition=Q(status_changed_by__isnull=False),
                name="visit_status_changed_by",
            ),
            # Overdue (scheduling.overdue): a cohort's owed visits whose window has ended,
            # and the missed ones. Each index holds the status and the list's order, so the
            # dashboard counts and the overdue list pages read the index alone.
            models.Index(
                fields=["cohort", "window_end"],
                include=["status", "due_date", "kind", "id"],
                condition=Q(status__in=["planned", "booked"]),
                name="visit_owed_window_end",
            ),
            models.Index(
                fields=["cohort", "due_date"],
                include=["kind", "id"],
                condition=Q(status="missed"),
                name="visit_missed",
            ),
            # Due soon (the dashboard): a cohort's open visits whose window starts soon.
            models.Index(
                fields=["cohort", "window_start"],
                condition=Q(status__in=["planned", "booked"]),
                name="visit_open_window_start",
            ),
            # The staff calendar: a cohort's planned visits by due day, booked ones by time.
            models.Index(
                fields=["cohort", "due_date"],
                condition=Q(status="planned"),
                name="visit_planned_due",
            ),
            models.Index(
                fields=["cohort", "booked_at"],
                include=["id"],  # a month's booked visits per day, from the index alone
                condition=Q(status="booked"),
                name="visit_booked_at",
            ),
            # The Today list: a cohort's planned visits whose window has opened (or soon will),
            # their ids ordered and counted from the index alone; the staff calendar's open
            # windows per day, from the window's end included.
            models.Index(
                fields=["cohort", "window_start"],
                include=["id", "window_end"],
                condition=Q(status="planned"),
                name="visit_planned_window_start",
            ),
            # The due-sweep: booked visits whose next reminder is due.
            models.Index(
                fields=["next_reminder_at"],
                condition=Q(status="booked", next_reminder_at__isnull=False),
                name="visit_reminder_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__lte=F("due_date")) & Q(due_date__lte=F("window_end")),
                name="visit_due_inside_window",
            ),
            models.CheckConstraint(
                condition=~Q(status="booked") | Q(booked_at__isnull=False),
                name="visit_booked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} visit due {self.due_date} ({self.status})"

    def save(self, *args, **kwargs):
        if self.cohort_id is None:
            self.cohort_id = self.patient.cohort_id
        super().save(*args, **kwargs)

    @classmethod
    def widest_window(cls) -> timedelta:
        """The widest a visit's window can be: any rule's, of any protocol version, or urgent."""
        widest = ProtocolVisitRule.objects.aggregate(days=Max("window_days"))["days"] or 0
        return max(2 * timedelta(days=widest), cls.URGENT_WINDOW)

    def state_on(self, today: date) -> str:
        """Care-gap reading of the visit on `today`."""
        if self.status in (self.Status.COMPLETED, self.Status.CANCELLED):
            return self.State.DONE
        if self.status == self.Status.MISSED or today > self.window_end:
            return self.State.OVERDUE
        if today >= self.window_start:
            return self.State.DUE
        if today >= self.window_start - timedelta(days=self.DUE_SOON_DAYS):
            return self.State.DUE_SOON
        return self.State.NOT_DUE

    @property
    def state(self) -> str:
        """The state on the site's today (the cohort's zone), not the server's."""
        return self.state_on(timezone.localdate(timezone=ZoneInfo(self.patient.cohort.timezone)))

    def _move(self, status: str, by, **fields) -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise InvalidTransition(f"A {self.status} visit cannot become {status}.")
        for name, value in fields.items():
            setattr(self, name, value)
        self.status, self.status_changed_at, self.status_changed_by = status, timezone.now(), by
        with transaction.atomic():
            self.save()
            self._cancel_stale_reminders()

    def reminder_key(self) -> str:
        """The idempotency key of the visit's next reminder: one per visit, time and day."""
        return f"{self._reminder_prefix()}{self.next_reminder_at:%Y%m%d}"

    def _reminder_prefix(self, booked_at: datetime | None = None) -> str:
        booked_at = booked_at or self.booked_at
        return f"visit:{self.pk}:{booked_at:{REMINDER_KEY_STAMP}}:"

    def _cancel_stale_reminders(self) -> int:
        """Reminders still queued for another appointment time (or for a visit no longer
        booked) are cancelled now, so the outbox and the patient's upcoming list say so
        (dispatch would cancel them at send time anyway). Found among the patient's
        messages: the outbox keeps no pattern index on its keys."""
        queued = Message.objects.filter(
            patient=self.patient_id,
            kind=Message.Kind.VISIT_REMINDER,
            status=Message.Status.QUEUED,
            idempotency_key__startswith=f"visit:{self.pk}:",
        )
        if self.status == self.Status.BOOKED:
            queued = queued.exclude(idempotency_key__startswith=self._reminder_prefix())
        return queued.update(
            status=Message.Status.CANCELLED,
            error="The visit was rebooked, done or cancelled since.",
            send_after=None,
        )

    REMINDER_LEADS = (timedelta(days=7), timedelta(days=1))

    def book(self, when: datetime, location: str = "", by=None) -> None:
        self._move(
            self.Status.BOOKED,
            by,
            booked_at=when,
            location=location,
            next_reminder_at=self.reminder_after(timezone.now(), when),
        )

    def reminder_after(self, moment: datetime, booked_at: datetime | None = None):
        """The first reminder time (7 or 1 day before the appointment) after `moment`."""
        booked_at = booked_at or self.booked_at
        upcoming = [booked_at - lead for lead in self.REMINDER_LEADS if booked_at - lead > moment]
        return upcoming[0] if upcoming else None

    def complete(self, by=None, note: str = "") -> None:
        self._move(self.Status.COMPLETED, by, note=note or self.note, next_reminder_at=None)

    def miss(self, by=None, note: str = "") -> None:
        self._move(self.Status.MISSED, by, note=note or self.note, next_reminder_at=None)

    def cancel(self, by=None, note: str = "") -> None:
        self._move(self.Status.CANCELLED, by, note=note or self.note, next_reminder_at=None)
