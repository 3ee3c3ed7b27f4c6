from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """Protocols, the planner, visits, reminder series and the due-sweep."""

    name = "scheduling"
