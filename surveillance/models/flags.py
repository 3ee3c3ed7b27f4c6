"""The review of what patients reported: flags, their escalations, the days off
that deadlines skip, and the coordinators' digests."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from simple_history.models import HistoricalRecords

from cohorts.models import Patient

from .reports import LesionReport


class Holiday(models.Model):
    """A local closure: a day a site's care team does not work (review deadlines skip it).

    Public holidays come from the cohort's country and subdivision
    (`cohorts.holiday_calendars`); these are the days on top of them.
    """

    day = models.DateField()
    name = models.CharField(max_length=100)
    site = models.CharField(
        max_length=200, blank=True, help_text="The site it closes; blank: every site."
    )

    class Meta:
        ordering = ["day", "site"]
        constraints = [
            models.UniqueConstraint(fields=["site", "day"], name="closure_once_per_site_and_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.name} ({self.site or 'every site'})"


class Flag(models.Model):
    """A lesion report waiting for a clinician's review, due by `review_due_at`.

    A flag raised on a message from a phone several patients share has no
    patient or report yet, only its `message` and its `candidates`, until a
    coordinator says whose it is (`surveillance.shared_phone`).
    """

    class Urgency(models.TextChoices):
        URGENT = "urgent"
        ROUTINE = "routine"

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    class Outcome(models.TextChoices):
        BENIGN = "benign", "Benign / seen, no action"
        URGENT_VISIT = "urgent_visit_booked", "Urgent visit booked"
        BIOPSY = "biopsy_ordered", "Biopsy ordered"
        RECURRENCE = "cutaneous_recurrence_confirmed", "Cutaneous recurrence confirmed"
        UNREACHABLE = "patient_unreachable", "Patient unreachable"
        WITHDRAWN = "patient_withdrawn", "Patient withdrawn from follow-up"

    UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)

    patient = models.ForeignKey(
        Patient,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="flags",
        help_text="Blank until a coordinator says whose report it is (a shared phone).",
    )
    report = models.OneToOneField(
        LesionReport, null=True, blank=True, on_delete=models.PROTECT, related_name="flag"
    )
    message = models.OneToOneField(
        "notifications.Message",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The message from a shared phone it was raised on, before it had a patient.",
    )
    candidates = models.ManyToManyField(
        Patient,
        blank=True,
        related_name="+",
        help_text="Raised on a shared phone: the patients using it then, one of whom the "
        "report is from. Their care teams look after the flag until it has a patient, "
        "whatever number each of them uses later, and withdrawn or not.",
    )
    urgency = models.CharField(max_length=7, choices=Urgency.choices)
    reasons = models.JSONField(default=list)
    rule_version = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    review_due_at = models.DateTimeField()
    lead_escalation_due_at = models.DateTimeField(
        help_text="Twice the review SLA: past it, the clinical lead is alerted."
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    outcome_note = models.TextField(blank=True)
    urgent_visit = models.ForeignKey(
        "scheduling.Visit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    urgent_alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the coordinators were alerted (urgent flags)."
    )
    created_at = models.DateTimeField(default=now)
    history = HistoricalRecords()

    class Meta:
        ordering = ["review_due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(patient__isnull=False, report__isnull=False)
                | Q(patient__isnull=True, report__isnull=True, message__isnull=False),
                name="flag_has_a_report_or_is_waiting_on_a_message",
            )
        ]
        indexes = [
            # Overdue reviews and escalation: unresolved flags by deadline.
            models.Index(
                fields=["review_due_at"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="flag_unresolved_due",
            ),
            models.Index(
                fields=["lead_escalation_due_at"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="flag_unresolved_lead_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.urgency} flag #{self.pk} ({self.status})"

    def is_overdue_at(self, moment) -> bool:
        return self.status in self.UNRESOLVED and moment > self.review_due_at

    @property
    def overdue(self) -> bool:
        return self.is_overdue_at(now())


class FlagEscalation(models.Model):
    """One escalation of an overdue flag; the unique level makes it happen once."""

    class Level(models.TextChoices):
        COORDINATORS = "coordinators"
        CLINICAL_LEAD = "clinical_lead"

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="escalations")
    level = models.CharField(max_length=13, choices=Level.choices)
    escalated_at = models.DateTimeField(default=now)
    notified = models.JSONField(default=list, help_text="User ids alerted.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "level"], name="flag_escalated_once_per_level")
        ]

    def __str__(self) -> str:
        return f"flag {self.flag_id} escalated to {self.level}"


class DigestDelivery(models.Model):
    """A coordinator's digest day, handled once (sent, or nothing to report)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="digest_once_per_user_per_day")
        ]

    def __str__(self) -> str:
        return f"digest for user {self.user_id} on {self.day}"
