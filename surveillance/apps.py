from django.apps import AppConfig


class SurveillanceConfig(AppConfig):
    """Lesion reports and photos, the SMS questionnaire, triage, flags and their review."""

    name = "surveillance"

    def ready(self):
        from . import questionnaire  # noqa: F401 - registers the SMS reply handler
