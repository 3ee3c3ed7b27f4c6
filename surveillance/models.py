"""Watching for recurrence: lesion reports and photos, the SMS questionnaire,
flags and their review, escalations and digests."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from simple_history.models import HistoricalRecords

from cohorts.models import Patient


class Holiday(models.Model):
    """A day the care team does not work: review deadlines skip it."""

    day = models.DateField(unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class LesionReport(models.Model):
    """A patient's report of a new spot, lump or rash, from any channel."""

    class Channel(models.TextChoices):
        SMS = "sms"
        WEB = "web"
        STAFF = "staff"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lesion_reports")
    channel = models.CharField(max_length=5, choices=Channel.choices)
    answers = models.JSONField(default=dict)
    complete = models.BooleanField(default=True)
    note = models.TextField(blank=True, help_text="Free text: staff notes, or what was said.")
    messages = models.ManyToManyField(
        "notifications.Message",
        blank=True,
        related_name="lesion_reports",
        help_text="The SMS exchanged while the report was taken.",
    )
    created_at = models.DateTimeField(default=now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} lesion report #{self.pk} of patient {self.patient_id}"


def _photo_path(photo: "LesionPhoto", filename: str) -> str:
    return f"lesion-photos/{photo.report.patient_id}/{photo.report_id}/{uuid.uuid4().hex}"


class LesionPhoto(models.Model):
    """A photo sent with a web report: stored outside the static/media URLs."""

    report = models.ForeignKey(LesionReport, on_delete=models.PROTECT, related_name="photos")
    image = models.FileField(upload_to=_photo_path)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"photo #{self.pk} of report {self.report_id}"


class Flag(models.Model):
    """A lesion report waiting for a clinician's review, due by `review_due_at`."""

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

    UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="flags")
    report = models.OneToOneField(LesionReport, on_delete=models.PROTECT, related_name="flag")
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


class SelfExamCheck(models.Model):
    """A patient's answer to a self-exam reminder: "1" nothing new, "2" something new."""

    class Result(models.TextChoices):
        NOTHING_NEW = "nothing_new"
        SOMETHING_NEW = "something_new"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="self_exams")
    result = models.CharField(max_length=13, choices=Result.choices)
    answered_at = models.DateTimeField(default=now)
    message = models.ForeignKey(
        "notifications.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-answered_at"]

    def __str__(self) -> str:
        return f"self-exam {self.result} by patient {self.patient_id}"


class Questionnaire(models.Model):
    """An SMS questionnaire in progress: one question per message.

    At most one is open per patient. It ends as a report when the last
    answer comes, or, unfinished, when it times out.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="questionnaires")
    answers = models.JSONField(default=dict)
    step = models.PositiveSmallIntegerField(default=0)
    reasked = models.BooleanField(default=False, help_text="The current question was re-asked.")
    started_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    report = models.OneToOneField(
        LesionReport, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    messages = models.ManyToManyField("notifications.Message", blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(closed_at__isnull=True),
                name="questionnaire_one_open_per_patient",
            )
        ]

    def __str__(self) -> str:
        return f"questionnaire #{self.pk} of patient {self.patient_id} at step {self.step}"


def new_nonce() -> str:
    return secrets.token_hex(16)


class ReportLink(models.Model):
    """A one-time link to the web form, for one patient, expiring."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="report_links")
    nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    report = models.OneToOneField(
        LesionReport, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"report link #{self.pk} for patient {self.patient_id}"


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
