from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from cohorts.models import Patient

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


def test_it_prints_a_working_login():
    output = run_seed()

    password = output.split("with password ")[1].strip().strip("'")
    user = authenticate(
        RequestFactory().post("/accounts/login/"), username="demo", password=password
    )
    assert user is not None
    assert user.coordinated_cohorts.exists()
