"""What FHIR exchange keeps: the last EHR bundle applied to a patient, and bulk exports."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from cohorts.models import Cohort, Patient


class SourceBundle(models.Model):
    """The newest EHR bundle applied to a patient: an older one never overwrites it."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="fhir_source")
    timestamp = models.DateTimeField(null=True, blank=True, help_text="The bundle's timestamp.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the bundle file.")
    applied_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"FHIR bundle {self.digest[:12]} for patient {self.patient_id}"


class BulkExport(models.Model):
    """One FHIR Bulk Data `Group/{id}/$export` request: kicked off, built by a worker, fetched."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted"
        RUNNING = "running"
        COMPLETE = "complete"
        FAILED = "failed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    request_url = models.CharField(max_length=500)
    types = models.JSONField(default=list, help_text="Resource types asked for; empty: all.")
    include_bodies = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    run = models.UUIDField(null=True, blank=True, help_text="The run building the files now.")
    patients_total = models.PositiveIntegerField(default=0)
    patients_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, help_text="Resources written per type.")
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=now)
    transaction_time = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Export of cohort {self.cohort_id} ({self.status})"

    @property
    def progress(self) -> str:
        if not self.patients_total:
            return "0%"
        return f"{100 * self.patients_done // self.patients_total}%"
