from django.apps import AppConfig


class SurveillanceConfig(AppConfig):
    """Lesion reports and photos, the SMS questionnaire, triage, flags and their review."""

    name = "surveillance"

    def ready(self):
        from . import questionnaire, shared_phone  # noqa: F401 - register the SMS handlers
