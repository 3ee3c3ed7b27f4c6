"""How patients tell us about their skin: reports, photos, self-exam answers, the SMS
questionnaire and the one-time web links."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from cohorts.models import Patient


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
    """A photo sent with a web report: stored outside the static/media URLs.

    Retention erases it: `erased_at` is set first (the photo is gone for
    everyone from then on), then the file is deleted and `image` emptied.
    """

    report = models.ForeignKey(LesionReport, on_delete=models.PROTECT, related_name="photos")
    image = models.FileField(upload_to=_photo_path, blank=True)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=now)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"photo #{self.pk} of report {self.report_id}"


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
