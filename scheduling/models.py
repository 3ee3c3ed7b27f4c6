"""Follow-up protocols (versioned data), visits and reminder series."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from cohorts.models import TIER_CHOICES, Cohort, Patient
from cohorts.risk import Tier
from notifications.models import Message
from notifications.validators import validate_sms_safe

from . import planner

# How an appointment time is written in its reminders' keys (UTC).
REMINDER_KEY_STAMP = "%Y%m%dT%H%M%SZ"


class InvalidProtocol(ValueError):
    """The draft's rules cannot be put in force; `problems` says why."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class ProtocolQuerySet(models.QuerySet):
    def active(self) -> "Protocol":
        return self.get(status=Protocol.Status.ACTIVE)


class Protocol(models.Model):
    """A versioned surveillance protocol: per tier, the visit and reminder cadences.

    Only drafts can be edited. Activating a draft retires the previous active
    version; plans keep pointing at the version they were built from, so what
    was promised to a patient stays explainable after the protocol changes.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        RETIRED = "retired"

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    follow_up_months = models.PositiveIntegerField(default=120)
    notes = models.TextField(blank=True, help_text="What changed and why, with sources.")
    created_on = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    activated_on = models.DateTimeField(null=True, blank=True)

    objects = ProtocolQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["version"], name="protocol_unique_version"),
            # At most one protocol is in force at any time.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="protocol_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def for_tier(self, tier: str) -> planner.TierProtocol:
        return self.rules_by_tier()[Tier(tier)]

    def rules_by_tier(self) -> dict[Tier, planner.TierProtocol]:
        """All tiers' rules in two queries, as the planner's data classes."""
        visits = {tier: [] for tier in Tier}
        reminders = {tier: [] for tier in Tier}
        for rule in self.visit_rules.all():
            visits[Tier(rule.tier)].append(rule.as_planner_rule())
        for rule in self.reminder_rules.all():
            reminders[Tier(rule.tier)].append(rule.as_planner_rule())
        return {
            tier: planner.TierProtocol(
                visit_rules=tuple(visits[tier]),
                reminder_rules=tuple(reminders[tier]),
                follow_up_months=self.follow_up_months,
            )
            for tier in Tier
        }

    @transaction.atomic
    def new_draft(self, by=None) -> "Protocol":
        """Copy this version, rules and all, into the next draft version."""
        next_version = (Protocol.objects.aggregate(models.Max("version"))["version__max"] or 0) + 1
        draft = Protocol.objects.create(
            name=self.name,
            version=next_version,
            follow_up_months=self.follow_up_months,
            notes=f"Draft copied from version {self.version}.",
            created_by=by,
        )
        for rule in self.visit_rules.all():
            rule.pk, rule.protocol = None, draft
            rule.save()
        for rule in self.reminder_rules.all():
            rule.pk, rule.protocol = None, draft
            rule.save()
        return draft

    def problems(self) -> list[str]:
        """Why this version must not be put in force ([] when it may)."""
        return planner.protocol_problems(
            {tier.value: rules for tier, rules in self.rules_by_tier().items()}
        )

    @transaction.atomic
    def activate(self) -> None:
        """Put this draft in force and retire the version it replaces.

        A draft with problems (`problems()`) is refused: a tier without rules
        would lose every future visit, an interval of 0 would stop planning.
        """
        if self.status != self.Status.DRAFT:
            raise ValueError("Only a draft protocol can be activated.")
        problems = self.problems()
        if problems:
            raise InvalidProtocol(problems)
        Protocol.objects.filter(status=self.Status.ACTIVE).update(status=self.Status.RETIRED)
        self.status, self.activated_on = self.Status.ACTIVE, timezone.now()
        self.save(update_fields=["status", "activated_on"])


class ProtocolVisitRule(models.Model):
    """Visits every `interval_months` in (start_month, end_month] after treatment end."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="visit_rules")
    tier = models.CharField(max_length=10, choices=TIER_CHOICES)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in planner.VisitKind])
    start_month = models.PositiveIntegerField()
    end_month = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: no end.")
    interval_months = models.PositiveIntegerField()
    window_days = models.PositiveIntegerField(help_text="The visit's window is due date ± this.")

    class Meta:
        ordering = ["tier", "kind", "start_month"]

    def __str__(self) -> str:
        return (
            f"{self.tier} {self.kind} every {self.interval_months} months from {self.start_month}"
        )

    def as_planner_rule(self) -> planner.VisitRule:
        return planner.VisitRule(
            kind=planner.VisitKind(self.kind),
            start_month=self.start_month,
            end_month=self.end_month,
            interval_months=self.interval_months,
            window_days=self.window_days,
        )


class ProtocolReminderRule(models.Model):
    """Self-exam reminders every `interval` weeks/months in [start_month, end_month)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="reminder_rules")
    tier = models.CharField(max_length=10, choices=TIER_CHOICES)
    kind = models.CharField(max_length=20, default="self_exam")
    start_month = models.PositiveIntegerField()
    end_month = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: no end.")
    frequency = models.CharField(
        max_length=8, choices=[(f.value, f.value.lower()) for f in planner.Frequency]
    )
    interval = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["tier", "kind", "start_month"]

    def __str__(self) -> str:
        return f"{self.tier} {self.kind} every {self.interval} {self.frequency.lower()}"

    def as_planner_rule(self) -> planner.ReminderRule:
        return planner.ReminderRule(
            kind=self.kind,
            start_month=self.start_month,
            end_month=self.end_month,
            frequency=planner.Frequency(self.frequency),
            interval=self.interval,
        )


class InvalidTransition(Exception):
    """A visit cannot move from its status to the one asked for."""


class Visit(models.Model):
    """One follow-up visit, materialised with its due date and window."""

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

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
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
    )
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_date", "kind", "id"]
        indexes = [
            models.Index(fields=["patient", "due_date"], name="visit_patient_due"),
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
            # their ids ordered and counted from the index alone.
            models.Index(
                fields=["cohort", "window_start"],
                include=["id"],
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
        (dispatch would cancel them at send time anyway)."""
        queued = Message.objects.filter(
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


# Self-exam reminders in a row without a word back, after which a patient is worth a call.
SILENT_AFTER = 3


class ReminderSeries(models.Model):
    """A recurring SMS reminder, kept as an RFC 5545 rule plus its next due time.

    Occurrences are not materialised: the due-sweep claims rows whose
    `next_due_at` has passed and advances it to the next occurrence. A series
    replaced by re-planning is deactivated, never deleted, because the
    messages already sent for it point at it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reminder_series")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="reminder_series")
    kind = models.CharField(max_length=20, default="self_exam")
    rule = models.CharField(max_length=200, help_text="RFC 5545 RRULE, in local wall time.")
    dtstart = models.CharField(
        max_length=15, help_text="First occurrence, local wall time, RFC 5545 form YYYYMMDDTHHMMSS."
    )
    timezone = models.CharField(max_length=64)
    next_due_at = models.DateTimeField(null=True, blank=True)
    unanswered = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Reminders of this series written since the patient last wrote (the sweep "
        "counts in the update that advances the series; a message from them resets it).",
    )
    is_active = models.BooleanField(default=True)
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)

    DTSTART_FORMAT = "%Y%m%dT%H%M%S"

    class Meta:
        ordering = ["patient", "dtstart"]
        verbose_name_plural = "reminder series"
        indexes = [
            # The due-sweep: active series with next_due_at <= now.
            models.Index(
                fields=["next_due_at"],
                condition=Q(is_active=True, next_due_at__isnull=False),
                name="reminder_series_due",
            ),
            # The Today list: patients silent through their last SILENT_AFTER reminders.
            models.Index(
                fields=["patient"],
                condition=Q(is_active=True, unanswered__gte=SILENT_AFTER),
                name="reminder_series_silent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.rule} from {self.dtstart} ({self.timezone})"

    @classmethod
    def from_plan(cls, patient: Patient, protocol: Protocol, planned: planner.PlannedSeries):
        return cls(
            patient=patient,
            protocol=protocol,
            kind=planned.kind,
            rule=planned.rule,
            dtstart=planned.dtstart.strftime(cls.DTSTART_FORMAT),
            timezone=planned.timezone,
            next_due_at=planned.next_due_at,
        )

    def identity(self) -> tuple:
        """What makes two series the same series: re-planning keeps these as they are."""
        return (self.kind, self.rule, self.dtstart, self.timezone)

    def as_planned(self) -> planner.PlannedSeries:
        return planner.PlannedSeries(
            kind=self.kind,
            rule=self.rule,
            dtstart=datetime.fromisoformat(self.dtstart),  # DTSTART_FORMAT is ISO 8601 basic
            until=None,
            timezone=self.timezone,
            next_due_at=self.next_due_at,
        )

    def upcoming(self, count: int = 5) -> list[datetime]:
        """The next `count` occurrences from next_due_at on (inclusive)."""
        if not self.is_active or self.next_due_at is None:
            return []
        after = self.next_due_at - timedelta(microseconds=1)
        return planner.occurrences_after(self.as_planned(), after, count)


class SchedulerHeartbeat(models.Model):
    """The last time Celery beat's heartbeat task ran on a worker.

    One row, updated every minute: if it goes stale, nothing is sweeping for
    due reminders, and /healthz says so.
    """

    SINGLETON_ID = 1

    beat_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"beat at {self.beat_at:%Y-%m-%d %H:%M:%S} on {self.worker or 'unknown worker'}"

    @classmethod
    def record(cls, worker: str = "") -> "SchedulerHeartbeat":
        beat, _ = cls.objects.update_or_create(
            id=cls.SINGLETON_ID, defaults={"beat_at": timezone.now(), "worker": worker}
        )
        return beat

    @classmethod
    def last_beat_at(cls):
        return cls.objects.filter(id=cls.SINGLETON_ID).values_list("beat_at", flat=True).first()
