from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only audit trail of every read and write of a patient's record."""

    name = "audit"
