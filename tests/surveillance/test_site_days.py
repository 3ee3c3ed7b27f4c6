"""'Today' is the site's date: overdue visits, due-today flags and urgent visits use it.

At 03:00 UTC on 2 June it is still 1 June, 20:00, in Los Angeles.
"""

from datetime import UTC, date, datetime

import pytest
import time_machine

from scheduling.models import Visit
from surveillance import lesions
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory

pytestmark = [pytest.mark.django_db]

EVENING_IN_LOS_ANGELES = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def patient(alice):
    cohort = CohortFactory(timezone="America/Los_Angeles", coordinators=[alice])
    with time_machine.travel("2026-02-01 12:00Z"):
        return PatientFactory(cohort=cohort, tier="high", treatment_end_date=date(2026, 1, 15))


@pytest.fixture
def visit_ending_on_the_sites_today(patient):
    visit = patient.visits.filter(kind="clinic", status="planned").order_by("due_date").first()
    Visit.objects.filter(pk=visit.pk).update(
        window_start=date(2026, 5, 18), due_date=date(2026, 5, 25), window_end=date(2026, 6, 1)
    )
    return visit


@time_machine.travel(EVENING_IN_LOS_ANGELES, tick=False)
def test_a_window_ending_on_the_sites_today_is_not_overdue_yet(
    api, alice, visit_ending_on_the_sites_today
):
    visit = visit_ending_on_the_sites_today

    overdue = api(alice).get("/api/v1/visits/?overdue=true").json()["results"]
    detail = api(alice).get(f"/api/v1/visits/{visit.pk}/").json()
    dashboard = api(alice).get("/api/v1/dashboard/").json()

    assert visit.pk not in [row["id"] for row in overdue]
    assert detail["state"] == "due"
    assert dashboard["totals"]["visits_overdue"] == 0

    with time_machine.travel(datetime(2026, 6, 2, 8, 0, tzinfo=UTC), tick=False):  # 2 June there
        assert api(alice).get(f"/api/v1/visits/{visit.pk}/").json()["state"] == "overdue"
        overdue = api(alice).get("/api/v1/visits/?overdue=true").json()["results"]
        assert visit.pk in [row["id"] for row in overdue]


@time_machine.travel(EVENING_IN_LOS_ANGELES, tick=False)
def test_due_today_counts_the_flags_due_on_the_sites_date(api, alice, patient):
    flag = lesions.record_report(patient, "staff", ROUTINE_ANSWERS)
    type(flag).objects.filter(pk=flag.pk).update(
        review_due_at=datetime(2026, 6, 2, 17, 0, tzinfo=UTC)  # 10:00 on 2 June there
    )

    assert api(alice).get("/api/v1/dashboard/").json()["totals"]["flags_due_today"] == 0

    type(flag).objects.filter(pk=flag.pk).update(
        review_due_at=datetime(2026, 6, 2, 5, 0, tzinfo=UTC)  # 22:00 on 1 June there
    )
    recount = api(alice).get("/api/v1/dashboard/?fresh=1").json()  # figures kept a minute
    assert recount["totals"]["flags_due_today"] == 1


@time_machine.travel(EVENING_IN_LOS_ANGELES, tick=False)
def test_an_urgent_visit_is_due_on_the_sites_today(patient, alice):
    flag = lesions.record_report(patient, "staff", ROUTINE_ANSWERS)

    visit = lesions.add_urgent_visit(flag, alice)

    assert (visit.due_date, visit.window_start) == (date(2026, 6, 1), date(2026, 6, 1))
