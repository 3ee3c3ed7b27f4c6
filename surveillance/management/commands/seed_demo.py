"""Prepare the embedded demo: roles, a demo login and (once) the demo cohort."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from cohorts.models import Cohort
from cohorts.roles import ADMIN, sync_roles
from surveillance.demo import DEMO_COHORT, bring_reminders_forward, create_demo_cohort

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "Create the roles, a demo login and the demo cohort; print where to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        sync_roles()
        password = self._reset_demo_login()
        user = get_user_model().objects.get(username=DEMO_USERNAME)
        cohort = create_demo_cohort(user)
        if cohort is not None:
            self.stdout.write(f"Enrolled {cohort.patients.count()} synthetic patients in {cohort}.")
        early = bring_reminders_forward(Cohort.objects.get(name=DEMO_COHORT))
        self.stdout.write(
            f"{len(early)} self-exam reminders fall due in the next {len(early)} minutes: "
            "watch the worker print them."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Open {url} and sign in as {DEMO_USERNAME!r} with password {password!r}\n"
            )
        )

    def _reset_demo_login(self) -> str:
        """A fresh random password each run: the demo never has a known password."""
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@example.invalid"}
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
        user.groups.add(Group.objects.get(name=ADMIN))
        return password
