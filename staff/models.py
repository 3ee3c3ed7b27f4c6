"""What the staff pages keep of their own: each user's secret calendar feed."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeedQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class CalendarFeed(models.Model):
    """A secret `.ics` address of the user's cohorts' visits, for Outlook or Google Calendar.

    Only the token's SHA-256 is kept: the address is shown once, when made.
    Revoking it (or making a new one) makes the old address answer 404.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)

    objects = CalendarFeedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="one_live_feed_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"calendar feed #{self.pk} of user {self.user_id}"

    @classmethod
    def make(cls, user) -> tuple["CalendarFeed", str]:
        """A new feed for the user (their live one revoked); returns it and its token."""
        cls.objects.live().filter(user=user).update(revoked_at=timezone.now())
        token = secrets.token_urlsafe(32)
        return cls.objects.create(user=user, digest=digest(token)), token

    @classmethod
    def find(cls, token: str) -> "CalendarFeed | None":
        return cls.objects.live().select_related("user").filter(digest=digest(token)).first()


class PatientImport(models.Model):
    """A CSV of patients, or an EHR's FHIR bundle, uploaded in the browser: previewed,
    confirmed, then enrolled by a Celery task (`staff.tasks.run_patient_import`), whose
    progress the page shows.

    The file is kept as text until it is enrolled or refused (then emptied), with
    its SHA-256 (the audit trail names the file by it).
    """

    class Status(models.TextChoices):
        PREVIEWED = "previewed"
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Kind(models.TextChoices):
        CSV = "csv", "CSV file"
        FHIR = "fhir", "FHIR R4 bundle"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cohort = models.ForeignKey("cohorts.Cohort", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.CSV)
    filename = models.CharField(max_length=200)
    digest = models.CharField(max_length=64)
    text = models.TextField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PREVIEWED)
    valid_only = models.BooleanField(
        default=False, help_text="Enrol the valid rows and report the others (else all or none)."
    )
    rows = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    refused = models.JSONField(
        default=list, help_text='["row 7: phone: ...", ...], a bundle\'s: its FHIRPath problems'
    )
    problem = models.TextField(blank=True, help_text="Why the whole file was refused.")
    summary = models.CharField(max_length=200, blank=True, help_text="What a bundle changed.")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"patient import #{self.pk} ({self.status})"

    @property
    def progress_key(self) -> str:
        return f"staff-import:{self.pk}:done"
