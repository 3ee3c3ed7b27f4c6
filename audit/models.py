"""The audit trail: one row per read or write of a patient's record."""

from django.conf import settings
from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.utils.timezone import now


class AuditEventError(Exception):
    """An attempt to change or remove an audit event: the trail is append-only."""


class AuditEventQuerySet(models.QuerySet):
    def about(self, patient_id: int) -> "AuditEventQuerySet":
        """Every event that touched the patient: their own rows and the lists they were on."""
        return self.filter(models.Q(patient_id=patient_id) | _listed(patient_id))


def _listed(patient_id: int) -> models.Q:
    """Lists whose `patient_ids` hold the patient (jsonb containment on PostgreSQL, served
    by the GIN index `audit_patient_ids`; SQLite has no such lookup and reads the array)."""
    if connection.vendor == "postgresql":
        return models.Q(patient_ids__contains=[patient_id])
    listed = RawSQL(
        "EXISTS (SELECT 1 FROM json_each(audit_auditevent.patient_ids) WHERE value = %s)",
        [patient_id],
        output_field=models.BooleanField(),
    )
    return models.Q(listed)


class AuditEvent(models.Model):
    """One read or write of a patient's record: who, what, when, from where, why.

    A list (an API page, an admin change list) is one row: `patient_ids` holds
    every patient on it and `object_ids` every row shown; `about(patient)`
    finds those rows as well as the patient's own.

    Append-only. Python refuses `save()` on an existing row and `delete()`;
    PostgreSQL refuses UPDATE and DELETE with a trigger (the initial migration), so
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
        DENIED = "denied", "Denied (not in the user's cohorts)"
        IMPORT = "import", "Import"
        ERASE = "erase", "Erase (retention)"

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
        "cohorts.Patient",
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
    patient_ids = models.JSONField(
        default=list, blank=True, help_text="A list's patients (one row per list shown)."
    )
    object_ids = models.JSONField(default=list, blank=True, help_text="A list's rows, in order.")

    objects = AuditEventQuerySet.as_manager()

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
