from django.apps import AppConfig


class FhirR4Config(AppConfig):
    name = "fhir_r4"
    verbose_name = "FHIR R4"
    default_auto_field = "django.db.models.BigAutoField"
