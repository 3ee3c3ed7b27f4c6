import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from cohorts.models import Cohort, Patient
from notifications.models import Message
from scheduling.models import Visit
from scheduling.overdue import overdue
from surveillance.models import Flag, Questionnaire

pytestmark = [pytest.mark.django_db]


def run_seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--url", "http://127.0.0.1:8000/", stdout=out)
    return out.getvalue()


def test_it_creates_a_planned_demo_cohort_across_every_tier_once():
    run_seed()
    run_seed()

    patients = Patient.objects.all()
    assert 24 <= patients.count() <= 60
    assert set(patients.values_list("risk_tier", flat=True)) == {"standard", "high", "very_high"}
    assert all(p.phone.startswith("+1201555") for p in patients)
    assert all(p.visits.exists() and p.reminder_series.exists() for p in patients)


def logins(output: str) -> dict[str, str]:
    """username -> password, as the command prints them."""
    found = re.findall(r"'([\w-]+)' with password '([^']+)'", output)
    return dict(found)


def test_it_prints_a_working_login_for_each_role():
    passwords = logins(run_seed())

    assert set(passwords) == {"demo", "demo-coordinator", "demo-lead"}
    users = {
        name: authenticate(
            RequestFactory().post("/accounts/login/"), username=name, password=password
        )
        for name, password in passwords.items()
    }
    assert all(users.values())
    assert users["demo"].groups.filter(name="admin").exists()
    assert users["demo-coordinator"].coordinated_cohorts.exists()
    assert users["demo-lead"].led_cohorts.exists()


def test_its_cohort_starts_with_the_work_a_coordinator_does():
    run_seed()

    flags = Flag.objects.filter(status="open")
    assert set(flags.values_list("urgency", flat=True)) == {"urgent", "routine"}
    assert Message.objects.filter(direction="inbound", needs_review=True).count() >= 2
    assert Message.objects.filter(direction="outbound", status="failed").exists()
    assert Questionnaire.objects.filter(closed_at__isnull=True).exists()
    cohort = Cohort.objects.get()
    assert Visit.objects.filter(overdue([cohort]), status="planned").count() >= 3
