from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CohortsConfig(AppConfig):
    """Cohorts, patients, tumour profiles, risk, access scoping, roles and import."""

    name = "cohorts"

    def ready(self):
        from . import messaging  # noqa: F401 - registers who a number belongs to
        from .roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="cohorts.sync_roles")
