"""Review deadlines count the site's business days: its country's and region's public
holidays (the `holidays` package), its own closures, in its own time zone."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from surveillance import lesions
from surveillance.models import Holiday
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory

pytestmark = [pytest.mark.django_db]

NEW_YORK, MADRID = ZoneInfo("America/New_York"), ZoneInfo("Europe/Madrid")


def routine_flag_at(moment: datetime, **cohort):
    """A routine report taken by staff at `moment`, in a cohort of these settings."""
    with time_machine.travel(date(2026, 1, 1)):
        patient = PatientFactory(
            cohort=CohortFactory(**cohort), tier="standard", treatment_end_date=date(2025, 6, 1)
        )
    with time_machine.travel(moment, tick=False):
        return lesions.record_report(patient, "staff", ROUTINE_ANSWERS)


US = {"timezone": "America/New_York", "country": "US"}


def test_a_holiday_friday_is_skipped():
    # 4 July 2026 is a Saturday: the United States observe it on Friday 3 July.
    flag = routine_flag_at(datetime(2026, 7, 1, 10, 0, tzinfo=NEW_YORK), **US)

    assert flag.review_due_at == datetime(2026, 7, 7, 10, 0, tzinfo=NEW_YORK)


def test_new_years_week_counts_the_sites_own_holidays():
    friday = datetime(2026, 1, 2, 10, 0, tzinfo=NEW_YORK)
    in_new_york = routine_flag_at(friday, **US)
    in_madrid = routine_flag_at(
        datetime(2026, 1, 2, 10, 0, tzinfo=MADRID), timezone="Europe/Madrid", country="ES"
    )

    assert in_new_york.review_due_at == datetime(2026, 1, 7, 10, 0, tzinfo=NEW_YORK)
    # Spain keeps Epiphany (Tuesday 6 January): one more day.
    assert in_madrid.review_due_at == datetime(2026, 1, 8, 10, 0, tzinfo=MADRID)


def test_a_regional_holiday_counts_only_in_its_region():
    wednesday = datetime(2026, 2, 11, 10, 0, tzinfo=NEW_YORK)
    federal = routine_flag_at(wednesday, **US)
    new_york_state = routine_flag_at(wednesday, **US, subdivision="NY")

    # Presidents' Day (Monday 16 February) is federal; Lincoln's Birthday (12th) is New York's.
    assert federal.review_due_at == datetime(2026, 2, 17, 10, 0, tzinfo=NEW_YORK)
    assert new_york_state.review_due_at == datetime(2026, 2, 18, 10, 0, tzinfo=NEW_YORK)


def test_the_deadline_keeps_the_wall_clock_across_a_dst_change():
    # Clocks go forward on Sunday 8 March 2026 in New York.
    flag = routine_flag_at(datetime(2026, 3, 6, 10, 0, tzinfo=NEW_YORK), **US)

    assert flag.review_due_at == datetime(2026, 3, 11, 10, 0, tzinfo=NEW_YORK)
    assert flag.review_due_at == datetime(2026, 3, 11, 14, 0, tzinfo=UTC)  # EDT, not EST


def test_a_local_closure_counts_for_its_own_site_only():
    Holiday.objects.create(day=date(2026, 6, 2), name="Staff training", site="North Hospital")
    Holiday.objects.create(day=date(2026, 6, 3), name="Move", site="South Hospital")

    flag = routine_flag_at(
        datetime(2026, 6, 1, 10, 0, tzinfo=NEW_YORK), site="North Hospital", **US
    )

    # Tuesday 2 June is closed at North only: Wed 3, Thu 4, Fri 5.
    assert flag.review_due_at == datetime(2026, 6, 5, 10, 0, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "US", "subdivision": "ZZ"}, "subdivision"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"country": None}, "country"),
    ],
)
def test_a_cohort_needs_a_real_zone_and_country(api, admin_user, change, field):
    payload = {"name": "Adjuvant", "site": "North Hospital", **US, **change}
    payload = {key: value for key, value in payload.items() if value is not None}

    response = api(admin_user).post("/api/v1/cohorts/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
