"""Recurring SMS reminders (RFC 5545 rules with their next due time)."""

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q

from cohorts.models import Patient

from .. import planner
from .protocols import Protocol

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
        return self.planned(self.kind, self.rule, self.dtstart, self.timezone, self.next_due_at)

    @staticmethod
    def planned(
        kind: str, rule: str, dtstart: str, timezone: str, next_due_at: datetime | None
    ) -> planner.PlannedSeries:
        """A series given as its stored values, as the planner's (the sweep loads values)."""
        return planner.PlannedSeries(
            kind=kind,
            rule=rule,
            dtstart=datetime.fromisoformat(dtstart),  # DTSTART_FORMAT is ISO 8601 basic
            until=None,
            timezone=timezone,
            next_due_at=next_due_at,
        )

    def upcoming(self, count: int = 5) -> list[datetime]:
        """The next `count` occurrences from next_due_at on (inclusive)."""
        if not self.is_active or self.next_due_at is None:
            return []
        after = self.next_due_at - timedelta(microseconds=1)
        return planner.occurrences_after(self.as_planned(), after, count)
