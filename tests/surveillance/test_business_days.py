"""Review deadlines in business days: weekends, holidays, time zones, DST. Pure."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveillance.business_days import add_business_days, is_business_day

NY = "America/New_York"
# Real cohort zones; all of them change their clocks on a weekend (see the DST tests).
ZONES = [
    "UTC",
    NY,
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Madrid",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
]


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        ((2026, 6, 1, 10, 0), 1, (2026, 6, 2, 10, 0)),  # Monday -> Tuesday
        ((2026, 6, 4, 10, 0), 1, (2026, 6, 5, 10, 0)),  # Thursday -> Friday
        ((2026, 6, 5, 19, 30), 1, (2026, 6, 8, 19, 30)),  # Friday evening -> Monday
        ((2026, 6, 5, 19, 30), 3, (2026, 6, 10, 19, 30)),  # Friday -> Wednesday
        ((2026, 6, 3, 9, 0), 3, (2026, 6, 8, 9, 0)),  # Wednesday -> Monday
        ((2026, 6, 1, 10, 0), 5, (2026, 6, 8, 10, 0)),  # a whole week
        ((2026, 6, 1, 10, 0), 0, (2026, 6, 1, 10, 0)),
    ],
)
def test_it_skips_weekends(start, days, due):
    assert add_business_days(local(NY, *start), days, NY) == local(NY, *due)


def test_it_skips_holidays():
    friday = local(NY, 2026, 12, 24, 18, 0)
    holidays = {date(2026, 12, 25), date(2026, 12, 28)}  # Friday and the Monday after

    assert add_business_days(friday, 1, NY, holidays) == local(NY, 2026, 12, 29, 18, 0)
    assert add_business_days(friday, 3, NY, holidays) == local(NY, 2026, 12, 31, 18, 0)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Saturday and Sunday count from Monday's start: due when Monday ends.
        ((2026, 6, 6, 11, 0), (2026, 6, 9, 0, 0)),
        ((2026, 6, 7, 23, 59), (2026, 6, 9, 0, 0)),
    ],
)
def test_it_counts_a_weekend_start_from_the_next_business_day(start, due):
    assert add_business_days(local(NY, *start), 1, NY) == local(NY, *due)


def test_it_counts_a_holiday_start_from_the_next_business_day():
    holiday = local(NY, 2026, 7, 3, 15, 0)  # a Friday off

    assert add_business_days(holiday, 1, NY, {date(2026, 7, 3)}) == local(NY, 2026, 7, 7, 0, 0)


def test_it_keeps_the_local_time_across_spring_forward():
    # US clocks go forward on Sunday 8 March 2026: Friday 18:00 EST -> Monday 18:00 EDT.
    due = add_business_days(local(NY, 2026, 3, 6, 18, 0), 1, NY)

    assert due == local(NY, 2026, 3, 9, 18, 0)
    assert due.utcoffset() == timedelta(hours=-4)
    # (Subtracting in UTC: Python subtracts same-zone datetimes as wall times.)
    assert due.astimezone(UTC) - local(NY, 2026, 3, 6, 18, 0) == timedelta(hours=71)


def test_it_keeps_the_local_time_across_fall_back():
    # US clocks go back on Sunday 1 November 2026: Friday 09:00 EDT -> Monday 09:00 EST.
    due = add_business_days(local(NY, 2026, 10, 30, 9, 0), 1, NY)

    assert due == local(NY, 2026, 11, 2, 9, 0)
    assert due.utcoffset() == timedelta(hours=-5)
    assert due.astimezone(UTC) - local(NY, 2026, 10, 30, 9, 0) == timedelta(hours=73)


def test_it_counts_in_the_cohorts_zone_not_in_utc():
    # Friday 22:00 in Los Angeles is already Saturday in UTC.
    start = local("America/Los_Angeles", 2026, 6, 5, 22, 0)
    assert start.astimezone(UTC).weekday() == 5

    due = add_business_days(start.astimezone(UTC), 1, "America/Los_Angeles")

    assert due == local("America/Los_Angeles", 2026, 6, 8, 22, 0)


# --- Properties ---------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)
holiday_sets = st.sets(
    st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 3, 31)), max_size=40
)
day_counts = st.integers(min_value=0, max_value=30)


@given(moments, day_counts, zones, holiday_sets)
def test_it_always_lands_on_a_business_day(start, days, zone, holidays):
    due = add_business_days(start, days, zone, holidays)

    assert is_business_day(due.astimezone(ZoneInfo(zone)).date(), holidays)


@given(moments, day_counts, zones, holiday_sets)
def test_it_lands_at_least_n_days_later(start, days, zone, holidays):
    due = add_business_days(start, days, zone, holidays)

    assert due >= start
    assert due - start >= timedelta(days=days)


@given(moments, day_counts, zones, holiday_sets)
def test_it_keeps_the_local_time_of_a_business_day_start(start, days, zone, holidays):
    started = start.astimezone(ZoneInfo(zone))
    if not is_business_day(started.date(), holidays):
        days_start = add_business_days(start, days, zone, holidays).astimezone(ZoneInfo(zone))
        assert days_start.time() == time(0, 0)
        return

    due = add_business_days(start, days, zone, holidays).astimezone(ZoneInfo(zone))

    assert due.time() == started.time()


@given(moments, day_counts, zones, holiday_sets)
def test_it_is_strictly_monotonic_in_the_number_of_days(start, days, zone, holidays):
    assert add_business_days(start, days, zone, holidays) < add_business_days(
        start, days + 1, zone, holidays
    )


@given(moments, day_counts, zones, holiday_sets)
def test_it_counts_exactly_n_business_days_in_between(start, days, zone, holidays):
    zone_info = ZoneInfo(zone)
    due = add_business_days(start, days, zone, holidays).astimezone(zone_info).date()
    first = start.astimezone(zone_info).date()
    between = [first + timedelta(days=offset) for offset in range(1, (due - first).days + 1)]

    counted = sum(is_business_day(day, holidays) for day in between)
    # A start off a business day first moves to the next one's midnight: one more.
    assert counted == days + (0 if is_business_day(first, holidays) else 1)
