"""The cache is a convenience: with Redis down, the API and the staff pages keep serving.

What they kept in it is counted afresh, the log says loudly that the cache failed, and
/healthz shows it down (tests/test_health.py).
"""

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import ApiToken
from cohorts.models import Patient
from staff import import_runs
from staff.models import PatientImport
from tests.factories import PatientFactory, UserFactory
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]

UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
    }
}


@pytest.fixture
def cache_down(settings):
    cache.clear()
    settings.CACHES = UNREACHABLE
    yield
    # the settings fixture restores CACHES (and the cache handler) after the test


@pytest.fixture
def admin():
    PatientFactory()
    return UserFactory(role="admin")


def test_the_api_dashboard_counts_afresh_when_the_cache_is_down(admin, cache_down, caplog):
    token = ApiToken.objects.create(user=admin, device="cache-down")[1]
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.get("/api/v1/dashboard/")

    assert response.status_code == 200
    assert response.json()["totals"]["patients"] >= 1
    assert any(
        record.levelname == "WARNING" and "cache" in record.getMessage()
        for record in caplog.records
    )


def test_the_staff_dashboard_counts_afresh_when_the_cache_is_down(admin, cache_down, caplog):
    response = signed_in(admin).get("/staff/dashboard/")

    assert response.status_code == 200
    assert response.context["rows"]
    assert "Self-exam response rate" in response.content.decode()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("dashboard-figures" in message for message in warnings)
    assert any("staff-trends" in message for message in warnings)


@time_machine.travel("2026-06-02 14:00Z")
def test_a_browser_import_goes_on_without_its_progress_when_the_cache_is_down(
    alice, cohort_a, cache_down, caplog
):
    rows = [
        "first_name,last_name,date_of_birth,mrn,phone,treatment_end_date,her2",
        "Nocache,Import,1966-03-02,CACHE-0001,+1 201 555 0101,2026-01-15,positive",
    ]
    job = PatientImport.objects.create(
        user=alice,
        cohort=cohort_a,
        filename="patients.csv",
        digest="0" * 64,
        text="\n".join(rows) + "\n",
        status=PatientImport.Status.QUEUED,
    )

    assert import_runs.run(job.pk) == "done"
    assert Patient.objects.filter(mrn="CACHE-0001").exists()
    page = signed_in(alice).get(f"/staff/import/{job.pk}/progress/")
    assert page.status_code == 200
    assert "the cache is unreachable" in caplog.text
