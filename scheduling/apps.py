from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """Protocols, the planner, visits, reminder series and the due-sweep."""

    name = "scheduling"

    def ready(self):
        from cohorts.signals import reassessed

        from . import answers, follow_up, send_checks, services  # noqa: F401 - follow_up registers

        reassessed.connect(services.replan_reassessed, dispatch_uid="scheduling.replan_reassessed")
        send_checks.register()
        answers.register()
