from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The staff web: the pages care coordinators, clinical leads and admins work in."""

    name = "staff"
    default_auto_field = "django.db.models.BigAutoField"
