"""The overdue list is counted and paged part by part (missed; owed with the window
ended: bulk_sql.parts.in_parts, config/pagination.py), and holds what one query over
both would, in the list's order, from either end, with any other filter."""

from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.pagination import PageNumberPagination

from scheduling.models import Visit
from scheduling.overdue import overdue
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]

NOW = "2027-09-01 12:00Z"


@pytest.fixture
def clinic(alice, cohort_a, cohort_b):
    """Patients of two cohorts, alice's, on two dates at NOW (two ranges of ended windows),
    whose first visits' windows have ended by NOW: some left planned, some booked and never
    closed, some missed, some completed."""
    cohort_b.timezone = "Pacific/Kiritimati"  # UTC+14: tomorrow already
    cohort_b.save()
    cohort_b.coordinators.add(alice)
    with time_machine.travel("2026-02-01 12:00Z"):
        patients = [
            PatientFactory(cohort=cohort, tier="high", treatment_end_date=date(2026, 1, 15))
            for cohort in (cohort_a, cohort_a, cohort_a, cohort_b)
        ]
    visits = list(Visit.objects.filter(patient__in=patients).order_by("pk"))
    for n, visit in enumerate(visits):
        status = ["planned", "missed", "booked", "completed", "missed", "planned"][n % 6]
        fields = {"status": status}
        if status in ("booked", "completed", "missed"):
            fields["booked_at"] = "2026-03-01T09:00Z"
        Visit.objects.filter(pk=visit.pk).update(**fields)
    return [cohort_a, cohort_b]


def _listed(client, query: dict) -> tuple[list[int], int]:
    ids, url, params = [], "/api/v1/visits/", query
    while url:
        body = client.get(url, params).json()
        ids += [row["id"] for row in body["results"]]
        url, params = body["next"], None
    return ids, body["count"]


@time_machine.travel(NOW)
@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 50])
def test_every_page_holds_the_overdue_visits_in_order(api, alice, clinic, monkeypatch, page_size):
    monkeypatch.setattr(PageNumberPagination, "page_size", page_size)
    expected = list(Visit.objects.filter(overdue(clinic)).values_list("pk", flat=True))
    statuses = set(Visit.objects.filter(pk__in=expected).values_list("status", flat=True))

    ids, count = _listed(api(alice), {"overdue": "true"})

    assert statuses == {"planned", "booked", "missed"}  # the parts interleave by due date
    assert count == len(expected) > 7
    assert ids == expected


@time_machine.travel(NOW)
def test_the_other_filters_hold_in_each_part(api, alice, clinic, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    owed = Visit.objects.filter(overdue(clinic))
    expected = list(owed.filter(kind="clinic", status="missed").values_list("pk", flat=True))

    ids, count = _listed(api(alice), {"overdue": "true", "kind": "clinic", "status": "missed"})

    assert ids == expected and count == len(expected) > 0


@time_machine.travel(NOW)
def test_not_overdue_is_everything_else(api, alice, clinic, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 500)
    mine = Visit.objects.filter(cohort__in=clinic)
    expected = list(mine.exclude(overdue(clinic)).values_list("pk", flat=True))

    ids, count = _listed(api(alice), {"overdue": "false"})

    assert ids == expected and count == len(expected) > 0


@time_machine.travel(NOW)
def test_each_part_is_counted_and_paged_on_its_own(api, alice, clinic):
    """No count ORs the parts (missed; ended by each of the two dates): an OR is answered
    from the table, each part from its index (the plans: bench/api_pages.py
    --explain-lines)."""
    with CaptureQueriesContext(connection) as captured:
        response = api(alice).get("/api/v1/visits/", {"overdue": "true"})

    visit_reads = [q["sql"] for q in captured if 'FROM "scheduling_visit"' in q["sql"]]
    assert response.status_code == 200
    counts = [sql for sql in visit_reads if "COUNT(" in sql]
    assert len(counts) == 3
    assert not any(" OR " in sql for sql in counts)
    assert any("UNION ALL" in sql for sql in visit_reads)
