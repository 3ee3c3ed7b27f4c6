"""Prepare the embedded demo: roles, a login per role and (once) the demo cohort with work."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from cohorts.models import Cohort
from cohorts.roles import ADMIN, CLINICAL_LEAD, COORDINATOR, sync_roles
from surveillance.demo import DEMO_COHORT, bring_reminders_forward, create_demo_cohort
from surveillance.demo_work import create_demo_work

DEMO_USERNAME = "demo"
# username: (role, what they do here)
DEMO_LOGINS = {
    DEMO_USERNAME: (ADMIN, "admin: every cohort, the admin site"),
    "demo-coordinator": (COORDINATOR, "care coordinator of the demo cohort"),
    "demo-lead": (CLINICAL_LEAD, "clinical lead: resolves flags"),
}


class Command(BaseCommand):
    help = "Create the roles, a demo login and the demo cohort; print where to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        sync_roles()
        passwords = {name: self._reset_login(name, role) for name, (role, _) in DEMO_LOGINS.items()}
        users = get_user_model().objects.in_bulk(list(DEMO_LOGINS), field_name="username")
        cohort = create_demo_cohort(users["demo-coordinator"])
        if cohort is not None:
            cohort.coordinators.add(users[DEMO_USERNAME])
            cohort.clinical_leads.add(users["demo-lead"])
            create_demo_work(cohort)
            self.stdout.write(f"Enrolled {cohort.patients.count()} synthetic patients in {cohort}.")
        early = bring_reminders_forward(Cohort.objects.get(name=DEMO_COHORT))
        self.stdout.write(
            f"{len(early)} self-exam reminders fall due in the next {len(early)} minutes: "
            "watch the worker print them."
        )
        self.stdout.write(self.style.SUCCESS(f"\n  Open {url} and sign in as:"))
        for name, (_, what) in DEMO_LOGINS.items():
            self.stdout.write(
                self.style.SUCCESS(f"    {name!r} with password {passwords[name]!r} ({what})")
            )
        self.stdout.write(self.style.SUCCESS(f"  The coordinators' home is {url}staff/\n"))

    def _reset_login(self, username: str, role: str) -> str:
        """A fresh random password each run: the demo never has a known password."""
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.invalid"}
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = user.is_superuser = role == ADMIN
        user.save()
        user.groups.add(Group.objects.get(name=role))
        return password
