from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SurveillanceConfig(AppConfig):
    """Cohorts, patients, tumour profiles, risk, lesion reports and flags."""

    name = "surveillance"

    def ready(self):
        from . import questionnaire  # noqa: F401 - registers the SMS handlers
        from .roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="surveillance.sync_roles")
