from django.apps import AppConfig


class SurveillanceConfig(AppConfig):
    """Cohorts, patients, tumour profiles, risk, lesion reports and flags."""

    name = "surveillance"
