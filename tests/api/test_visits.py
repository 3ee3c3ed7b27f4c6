from datetime import date

import pytest
import time_machine

from scheduling.models import Visit
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def visit(cohort_a):
    with time_machine.travel("2026-02-01 12:00Z"):
        patient = PatientFactory(cohort=cohort_a, tier="high", treatment_end_date=date(2026, 1, 15))
    return patient.visits.filter(kind="clinic").order_by("due_date").first()


@time_machine.travel("2026-04-01 12:00Z")
def test_it_books_then_completes_a_visit_recording_who(api, alice, visit):
    client = api(alice)

    booked = client.post(
        f"/api/v1/visits/{visit.pk}/book/",
        {"booked_at": "2026-04-14T09:00:00Z", "location": "Clinic 2"},
    )
    completed = client.post(f"/api/v1/visits/{visit.pk}/complete/", {"note": "No findings"})

    assert booked.status_code == 200, booked.json()
    assert booked.json()["status"] == "booked"
    assert completed.json()["status"] == "completed"
    assert completed.json()["state"] == "done"
    visit.refresh_from_db()
    assert visit.status_changed_by == alice
    # Planned visits are created in bulk without history; each status change has a row.
    assert list(visit.history.values_list("status", flat=True)) == ["completed", "booked"]


def test_it_refuses_an_impossible_transition_and_changes_nothing(api, alice, visit):
    api(alice).post(f"/api/v1/visits/{visit.pk}/cancel/")

    response = api(alice).post(f"/api/v1/visits/{visit.pk}/complete/")

    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]
    visit.refresh_from_db()
    assert visit.status == "cancelled"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2019-01-01"])
def test_it_refuses_an_implausible_appointment_time(api, alice, visit, when):
    response = api(alice).post(f"/api/v1/visits/{visit.pk}/book/", {"booked_at": when})

    assert response.status_code == 400
    assert "booked_at" in response.json()
    visit.refresh_from_db()
    assert visit.status == "planned"


def test_it_needs_a_time_to_book(api, alice, visit):
    response = api(alice).post(f"/api/v1/visits/{visit.pk}/book/", {"booked_at": "soon"})

    assert response.status_code == 400
    assert "booked_at" in response.json()
    visit.refresh_from_db()
    assert visit.status == "planned"


def test_it_hides_visits_of_other_cohorts(api, bob, visit):
    assert api(bob).get(f"/api/v1/visits/{visit.pk}/").status_code == 404
    assert (
        api(bob)
        .post(f"/api/v1/visits/{visit.pk}/book/", {"booked_at": "2026-04-14T09:00:00Z"})
        .status_code
        == 404
    )
    assert api(bob).get("/api/v1/visits/").json()["count"] == 0


@pytest.mark.parametrize(
    ("today", "state"),
    [
        ("2026-03-10", "not_due"),
        ("2026-03-25", "due_soon"),
        ("2026-04-15", "due"),
        ("2026-04-29", "due"),
        ("2026-04-30", "overdue"),
    ],
)
def test_it_reads_the_care_gap_state_of_a_visit(visit, today, state):
    assert (visit.due_date, visit.window_start, visit.window_end) == (
        date(2026, 4, 15),
        date(2026, 4, 1),
        date(2026, 4, 29),
    )

    assert visit.state_on(date.fromisoformat(today)) == state


def test_it_filters_overdue_visits_by_cohort_and_due_range(api, alice, cohort_a, visit):
    with time_machine.travel("2026-05-10 12:00Z"):
        overdue = api(alice).get("/api/v1/visits/", {"overdue": "true", "cohort": cohort_a.pk})
        in_range = api(alice).get(
            "/api/v1/visits/", {"due_date_after": "2026-04-01", "due_date_before": "2026-07-31"}
        )

    assert [v["id"] for v in overdue.json()["results"]] == [visit.pk]
    assert {v["due_date"] for v in in_range.json()["results"]} == {"2026-04-15", "2026-07-15"}


def test_it_counts_a_missed_visit_as_overdue(visit):
    visit.miss()

    assert Visit.objects.get(pk=visit.pk).state_on(date(2026, 4, 20)) == "overdue"


def test_it_refuses_a_place_that_names_a_diagnosis(api, alice, visit):
    response = api(alice).post(
        f"/api/v1/visits/{visit.pk}/book/",
        {"booked_at": "2026-04-14T09:00:00Z", "location": "Breast Oncology Clinic"},
    )

    assert response.status_code == 400
    assert "must not contain 'breast'" in response.json()["location"][0]
    visit.refresh_from_db()
    assert (visit.status, visit.location) == ("planned", "")
