"""Every staff page and API list costs a fixed number of queries, however much it holds."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from notifications import inbound
from surveillance import lesions
from surveillance.models import Flag
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}
PAGES = [
    "/staff/",
    "/staff/inbox/",
    "/staff/dashboard/",
    "/staff/calendar/?start=2026-06-01",
    "/staff/calendar/?view=month&start=2026-06-01",
    "/staff/calendar/2026-06-03/",
    "/staff/flags/{flag}/",
    "/staff/patients/{patient}/",
    "/staff/export/flags.csv",
    "/api/v1/patients/",
    "/api/v1/visits/",
    "/api/v1/visits/?overdue=true",
    "/api/v1/messages/",
    "/api/v1/flags/",
    "/api/v1/lesion-reports/",
]


def add_work(cohort, count: int, by) -> None:
    """`count` patients, each with a flag, a message to read and a visit booked that week."""
    for n in range(count):
        patient = PatientFactory(cohort=cohort, phone=f"+1201555{n % 100 + 100:04d}")
        lesions.record_report(patient, "staff", RED_FLAGS)
        inbound.receive(f"SMcount{cohort.pk}{n}", patient.phone, "+12025550100", "Hello?")
        visit = patient.visits.filter(status="planned").order_by("due_date").first()
        visit.book(datetime(2026, 6, 3, 14, n % 60, tzinfo=UTC), by=by)


def queries(client: Client, path: str) -> int:
    cache.clear()  # the dashboard's trends are kept a while: count them each time
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200, path
    return len(captured)


@time_machine.travel("2026-06-02 14:00Z")
def test_no_page_costs_more_queries_for_more_patients(alice, cohort_a):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    client = Client()
    client.force_login(alice)
    add_work(cohort_a, 2, alice)
    ids = {"flag": Flag.objects.first().pk, "patient": Flag.objects.first().patient_id}
    few = {page: queries(client, page.format(**ids)) for page in PAGES}

    add_work(cohort_a, 30, alice)  # past every list's first rows
    many = {page: queries(client, page.format(**ids)) for page in PAGES}

    assert {page: many[page] - few[page] for page in PAGES} == dict.fromkeys(PAGES, 0)
    assert max(many.values()) <= 30
