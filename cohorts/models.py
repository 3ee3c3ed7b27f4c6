"""Follow-up cohorts, the people in them, their tumour profile and risk tier."""

from datetime import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils.timezone import localdate, now
from simple_history.models import HistoricalRecords

from notifications.models import Contact
from notifications.validators import validate_sms_safe, validate_time_zone

from . import plausible_dates, risk
from .holiday_calendars import validate_country, validate_subdivision

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
        validators=[validate_time_zone],
        help_text="The site's time zone: its dates, and patients' zone unless they give one.",
    )
    country = models.CharField(
        max_length=2,
        validators=[validate_country],
        help_text="ISO 3166 code, e.g. US: its public holidays are not business days.",
    )
    subdivision = models.CharField(
        max_length=10,
        blank=True,
        help_text="State or region code, e.g. NY: its public holidays too.",
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

    def clean(self):
        super().clean()
        if self.country and self.subdivision:
            validate_subdivision(self.country, self.subdivision)


class Patient(models.Model):
    class WithdrawalReason(models.TextChoices):
        CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
        MOVED_AWAY = "moved_away", "Moved away"
        DECEASED = "deceased", "Deceased"
        OTHER = "other", "Other"

    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="patients")
    # Copied from the cohort so that "MRN unique per site" is a database constraint.
    site = models.CharField(max_length=200, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(validators=[plausible_dates.birth_date])
    mrn = models.CharField("MRN", max_length=64, help_text="Medical record number at the site.")
    contact = models.ForeignKey(
        Contact,
        on_delete=models.PROTECT,
        related_name="patients",
        db_index=False,  # patient_contact, below
        help_text="The phone SMS go to, with its consent, language and time zone.",
    )
    reminder_time = models.TimeField(default=time(10, 0), help_text="Local time for reminders.")
    reminders_paused_until = models.DateField(
        null=True,
        blank=True,
        validators=[plausible_dates.pause_end],
        help_text="No reminders up to and including this date.",
    )
    enrolled_on = models.DateField(default=localdate, validators=[plausible_dates.enrolment_date])
    # The latest assessment's tier, kept here so lists and dashboards filter on it.
    risk_tier = models.CharField(max_length=10, choices=TIER_CHOICES, blank=True)
    is_active = models.BooleanField(default=True)
    # Set whenever the patient is not followed up (is_active false): retention counts from it.
    withdrawn_on = models.DateField(
        null=True, blank=True, help_text="When follow-up ended; retention periods count from it."
    )
    withdrawal_reason = models.CharField(
        max_length=17, choices=WithdrawalReason.choices, blank=True
    )
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When retention erased who they were: the record can no longer change.",
    )
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()
    # The SMS about this patient. Patients are never deleted (deactivate them):
    # deleting one would take these with it.
    messages = GenericRelation(
        "notifications.Message",
        content_type_field="subject_type",
        object_id_field="subject_id",
        related_query_name="patient",
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        # Lists page through patients in that order: an index walks it, no sort of them all.
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="patient_by_name"),
            # The dashboard: patients followed up, counted per cohort from the index alone,
            # and the few whose reminders are paused.
            models.Index(fields=["cohort"], condition=Q(is_active=True), name="patient_active"),
            models.Index(
                fields=["cohort", "reminders_paused_until"],
                condition=Q(reminders_paused_until__isnull=False),
                name="patient_paused",
            ),
            # The dashboard counts what is wrong with a phone or a message per cohort: from
            # the few opted-out numbers to their patients, and from the messages needing
            # attention to their patients' cohort, each read from an index alone.
            models.Index(
                fields=["contact"], include=["cohort", "is_active"], name="patient_contact"
            ),
            models.Index(fields=["id"], include=["cohort"], name="patient_cohort_by_id"),
            # Retention: the few patients no longer followed up, by when they left.
            models.Index(
                fields=["withdrawn_on"],
                condition=Q(withdrawn_on__isnull=False),
                name="patient_withdrawn",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["site", "mrn"], name="patient_unique_mrn_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.mrn})"

    def save(self, *args, **kwargs):
        self.site = self.cohort.site
        self.keep_withdrawal_in_step()
        super().save(*args, **kwargs)

    def keep_withdrawal_in_step(self) -> None:
        """A patient no longer followed up has a withdrawal on record; one followed up, none.

        Deactivated without saying why (the API's `is_active`, the admin): "other",
        today at the site. Reactivated: the withdrawal is forgotten.
        """
        if self.is_active:
            self.withdrawn_on, self.withdrawal_reason = None, ""
        elif self.withdrawn_on is None:
            self.withdrawn_on = localdate(now(), ZoneInfo(self.cohort.timezone))
            self.withdrawal_reason = self.WithdrawalReason.OTHER

    # What the SMS layer keeps on the phone, read here as the patient's own.
    @property
    def phone(self) -> str:
        return self.contact.number

    @property
    def timezone(self) -> str:
        return self.contact.timezone

    @property
    def language(self) -> str:
        return self.contact.language

    @property
    def can_receive_sms(self) -> bool:
        return self.contact.can_receive_sms

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
    diagnosis_date = models.DateField(
        null=True,
        blank=True,
        validators=[plausible_dates.treatment_date],
        help_text="Diagnosis of the primary breast cancer.",
    )
    surgery_date = models.DateField(
        null=True, blank=True, validators=[plausible_dates.treatment_date]
    )
    surgery_site = models.CharField(max_length=100, blank=True, help_text="e.g. left breast")
    treatment_end_date = models.DateField(
        help_text="End of primary treatment.", validators=[plausible_dates.treatment_date]
    )
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
            stage=risk.Stage(self.stage),
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
