"""Follow-up cohorts, the people in them, their tumour profile and risk tier."""

import secrets
import uuid
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import localdate, now
from simple_history.models import HistoricalRecords

from notifications.phones import validate_e164

from . import risk
from .validators import validate_sms_safe, validate_time_zone

TIER_CHOICES = [(tier.value, tier.value) for tier in risk.Tier]
RECEPTOR_CHOICES = [(receptor.value, receptor.value) for receptor in risk.Receptor]
HISTOLOGY_CHOICES = [(histology.value, histology.value) for histology in risk.Histology]


class Cohort(models.Model):
    """A named follow-up programme at one site, run by its coordinators."""

    name = models.CharField(max_length=200)
    site = models.CharField(
        max_length=200,
        validators=[validate_sms_safe],
        help_text="Hospital or clinic running the cohort; named in patients' SMS.",
    )
    contact_phone = models.CharField(
        max_length=20, blank=True, help_text="The care team's number, given in HELP answers."
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The site's time zone: review deadlines count its business days.",
    )
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="coordinated_cohorts"
    )
    clinical_leads = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="led_cohorts"
    )
    is_active = models.BooleanField(default=True)
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="cohort_unique_name_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.site})"


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Spanish"


class ConsentSource(models.TextChoices):
    WRITTEN = "written", "Written form"
    VERBAL = "verbal", "Verbal, recorded by staff"
    SMS = "sms", "SMS keyword"
    WEB = "web", "Web form"
    IMPORT = "import", "Bulk import"
    STAFF = "staff", "Recorded by staff"


class Patient(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="patients")
    # Copied from the cohort so that "MRN unique per site" is a database constraint.
    site = models.CharField(max_length=200, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    mrn = models.CharField("MRN", max_length=64, help_text="Medical record number at the site.")
    phone = models.CharField(
        max_length=20, validators=[validate_e164], db_index=True, help_text="E.164"
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    reminder_time = models.TimeField(default=time(10, 0), help_text="Local time for reminders.")
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=10, choices=ConsentSource.choices, blank=True)
    sms_opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by STOP (or Twilio error 21610); START clears it."
    )
    phone_invalid_at = models.DateTimeField(
        null=True, blank=True, help_text="The provider refused the number; fix it to resume SMS."
    )
    phone_invalid_reason = models.CharField(max_length=200, blank=True)
    reminders_paused_until = models.DateField(
        null=True, blank=True, help_text="No reminders up to and including this date."
    )
    enrolled_on = models.DateField(default=localdate)
    # The latest assessment's tier, kept here so lists and dashboards filter on it.
    risk_tier = models.CharField(max_length=10, choices=TIER_CHOICES, blank=True)
    is_active = models.BooleanField(default=True)
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "mrn"], name="patient_unique_mrn_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.mrn})"

    def save(self, *args, **kwargs):
        self.site = self.cohort.site
        super().save(*args, **kwargs)

    @property
    def can_receive_sms(self) -> bool:
        return self.sms_consent and self.sms_opted_out_at is None and self.phone_invalid_at is None

    def reminders_paused_on(self, day) -> bool:
        return self.reminders_paused_until is not None and day <= self.reminders_paused_until

    @property
    def latest_assessment(self) -> "RiskAssessment | None":
        return self.risk_assessments.order_by("-assessed_at", "-id").first()


class TumourProfile(models.Model):
    """What the tumour was and how it was treated: the inputs to the risk rules."""

    class Stage(models.TextChoices):
        STAGE_0 = "0", "0 (in situ)"
        STAGE_I = "I", "I"
        STAGE_II = "II", "II"
        STAGE_III = "III", "III"
        STAGE_IV = "IV", "IV"
        UNKNOWN = "unknown", "Unknown"

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="profile")
    er = models.CharField("ER", max_length=8, choices=RECEPTOR_CHOICES, default="unknown")
    pr = models.CharField("PR", max_length=8, choices=RECEPTOR_CHOICES, default="unknown")
    her2 = models.CharField("HER2", max_length=8, choices=RECEPTOR_CHOICES, default="unknown")
    histology = models.CharField(max_length=12, choices=HISTOLOGY_CHOICES, default="ductal")
    stage = models.CharField(max_length=7, choices=Stage.choices, default=Stage.UNKNOWN)
    surgery_date = models.DateField(null=True, blank=True)
    surgery_site = models.CharField(max_length=100, blank=True, help_text="e.g. left breast")
    treatment_end_date = models.DateField(help_text="End of primary treatment.")
    prior_recurrence = models.BooleanField(
        default=False, help_text="Prior local or cutaneous recurrence, or skin metastasis."
    )
    modified_on = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Tumour profile of patient {self.patient_id}"

    def as_rule_input(self) -> risk.TumourProfile:
        return risk.TumourProfile(
            er=risk.Receptor(self.er),
            pr=risk.Receptor(self.pr),
            her2=risk.Receptor(self.her2),
            histology=risk.Histology(self.histology),
            prior_recurrence=self.prior_recurrence,
        )


class RiskAssessment(models.Model):
    """One run of the risk rules over a profile; the latest one drives the schedule."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="risk_assessments")
    tier = models.CharField(max_length=10, choices=TIER_CHOICES)
    reasons = models.JSONField(default=list)
    rule_version = models.CharField(max_length=20)
    assessed_at = models.DateTimeField(default=now)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-assessed_at", "-id"]
        indexes = [models.Index(fields=["patient", "-assessed_at"], name="assessment_latest")]

    def __str__(self) -> str:
        return f"{self.tier} ({self.rule_version}) at {self.assessed_at:%Y-%m-%d}"

    def same_outcome(self, outcome: risk.Assessment) -> bool:
        return (
            self.tier == outcome.tier
            and list(self.reasons) == list(outcome.reasons)
            and self.rule_version == outcome.rule_version
        )


class AuditEventError(Exception):
    """An attempt to change or remove an audit event: the trail is append-only."""


class AuditEvent(models.Model):
    """One read or write of a patient's record: who, what, when, from where, why.

    Append-only. Python refuses `save()` on an existing row and `delete()`;
    PostgreSQL refuses UPDATE and DELETE with a trigger (migration 0003), so
    not even raw SQL from the application can rewrite the trail. The user and
    patient links carry no database constraint and no cascade: the trail must
    outlive both (deleting a user must not UPDATE or DELETE audit rows), and
    `username` keeps who it was even then.
    """

    class Action(models.TextChoices):
        VIEW = "view", "View"
        LIST = "list", "List"
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        EXPORT = "export", "Export"

    at = models.DateTimeField(default=now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    patient = models.ForeignKey(
        Patient,
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="+",
    )
    object_type = models.CharField(max_length=40, help_text='e.g. "patient", "visit", "risk"')
    object_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=500, blank=True)
    method = models.CharField(max_length=10, blank=True)
    reason = models.CharField(
        max_length=200, blank=True, help_text='The view and action, e.g. "api:patient-detail".'
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
            models.Index(fields=["user", "-at"], name="audit_user_at"),
        ]

    def __str__(self) -> str:
        who = self.username or "anonymous"
        target = f"{self.object_type} {self.object_id}".strip()
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEventError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEventError("audit events are append-only")


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
