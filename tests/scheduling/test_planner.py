from calendar import monthrange
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.risk import Tier
from scheduling.default_protocol import DEFAULT_PROTOCOL
from scheduling.planner import (
    Plan,
    PlannedSeries,
    PlannedVisit,
    VisitKind,
    add_months,
    next_occurrence,
    occurrences_after,
    plan,
)

TEN = time(10, 0)
LONDON = "Europe/London"
NEW_YORK = "America/New_York"
ZONES = [
    "UTC",
    LONDON,
    "Europe/Paris",
    NEW_YORK,
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Auckland",
    "Pacific/Chatham",
]
TIERS_LOW_TO_HIGH = (Tier.STANDARD, Tier.HIGH, Tier.VERY_HIGH)
property_settings = settings(max_examples=100, deadline=None, database=None)


def plan_for(
    tier: Tier,
    treatment_end: date = date(2025, 1, 15),
    *,
    enrolled_on: date | None = None,
    timezone: str = LONDON,
    reminder_time: time = TEN,
    now: datetime | None = None,
) -> Plan:
    return plan(
        DEFAULT_PROTOCOL[tier],
        treatment_end=treatment_end,
        enrolled_on=enrolled_on or treatment_end,
        timezone=timezone,
        reminder_time=reminder_time,
        now=now,
    )


def months_after(treatment_end: date, months: range | list[int]) -> list[date]:
    return [treatment_end + relativedelta(months=month) for month in months]


def visits_of(result: Plan, kind: VisitKind) -> list[PlannedVisit]:
    return [visit for visit in result.visits if visit.kind is kind]


def due_dates(result: Plan, kind: VisitKind) -> list[date]:
    return [visit.due_date for visit in visits_of(result, kind)]


def local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def start_of_day(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))


# --- The protocol table, tier by tier ---------------------------------------------------------


def test_it_sees_high_risk_patients_every_3_months_in_years_1_to_3() -> None:
    treatment_end = date(2025, 1, 15)
    clinic = visits_of(plan_for(Tier.HIGH, treatment_end), VisitKind.CLINIC)

    first_three_years = clinic[:12]
    assert [visit.due_date for visit in first_three_years] == months_after(
        treatment_end, range(3, 37, 3)
    )
    assert all(visit.due_date - visit.window_start == timedelta(days=14) for visit in clinic[:12])
    assert all(visit.window_end - visit.due_date == timedelta(days=14) for visit in clinic[:12])
    assert clinic[12].due_date == treatment_end + relativedelta(months=42)


@pytest.mark.parametrize(
    ("tier", "months"),
    [
        (Tier.VERY_HIGH, [*range(3, 61, 3), *range(66, 121, 6)]),
        (Tier.HIGH, [*range(3, 37, 3), *range(42, 61, 6), *range(72, 121, 12)]),
        (Tier.STANDARD, [*range(6, 37, 6), *range(48, 61, 12), *range(72, 121, 12)]),
    ],
)
def test_it_plans_clinic_visits_at_each_tiers_cadence(tier: Tier, months: list[int]) -> None:
    treatment_end = date(2025, 1, 15)

    result = plan_for(tier, treatment_end)

    assert due_dates(result, VisitKind.CLINIC) == months_after(treatment_end, months)


@pytest.mark.parametrize("tier", TIERS_LOW_TO_HIGH)
def test_it_windows_3_monthly_visits_by_14_days_and_others_by_28(tier: Tier) -> None:
    result = plan_for(tier)

    for previous, visit in zip(result.visits, result.visits[1:], strict=False):
        assert visit.due_date > previous.due_date or visit.kind is not previous.kind
    for kind in VisitKind:
        visits = visits_of(result, kind)
        gaps = [b.due_date - a.due_date for a, b in zip(visits, visits[1:], strict=False)]
        for visit, gap in zip(visits[1:], gaps, strict=True):
            three_monthly = kind is VisitKind.CLINIC and gap < timedelta(days=100)
            expected = timedelta(days=14 if three_monthly else 28)
            assert visit.window_end - visit.due_date == expected
            assert visit.due_date - visit.window_start == expected


@pytest.mark.parametrize("tier", TIERS_LOW_TO_HIGH)
def test_it_plans_yearly_mammography_for_every_tier(tier: Tier) -> None:
    treatment_end = date(2025, 1, 15)

    imaging = visits_of(plan_for(tier, treatment_end), VisitKind.IMAGING)

    assert [visit.due_date for visit in imaging] == months_after(treatment_end, range(12, 121, 12))
    assert all(visit.window_end - visit.due_date == timedelta(days=28) for visit in imaging)


@pytest.mark.parametrize(
    ("tier", "rules"),
    [
        (Tier.VERY_HIGH, ["FREQ=WEEKLY;INTERVAL=1;", "FREQ=WEEKLY;INTERVAL=2;"]),
        (Tier.HIGH, ["FREQ=WEEKLY;INTERVAL=2;", "FREQ=MONTHLY;INTERVAL=1;"]),
        (Tier.STANDARD, ["FREQ=MONTHLY;INTERVAL=1;", "FREQ=MONTHLY;INTERVAL=1;"]),
    ],
)
def test_it_sends_skin_self_exam_reminders_at_each_tiers_cadence(
    tier: Tier, rules: list[str]
) -> None:
    result = plan_for(tier, date(2025, 1, 15))

    assert [series.kind for series in result.series] == ["self_exam", "self_exam"]
    assert [series.rule.split("UNTIL=")[0] for series in result.series] == rules


def test_it_writes_the_high_tier_reminders_as_an_rrule_in_local_time() -> None:
    first_years = plan_for(Tier.HIGH, date(2025, 1, 15)).series[0]

    assert first_years == PlannedSeries(
        kind="self_exam",
        rule="FREQ=WEEKLY;INTERVAL=2;UNTIL=20280114T100000",
        dtstart=datetime(2025, 1, 15, 10, 0),
        until=datetime(2028, 1, 14, 10, 0),
        timezone=LONDON,
        next_due_at=datetime(2025, 1, 15, 10, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("tier", "days_apart"),
    [(Tier.VERY_HIGH, 7), (Tier.HIGH, 14)],
)
def test_it_spaces_weekly_reminders_evenly(tier: Tier, days_apart: int) -> None:
    series = plan_for(tier, date(2025, 1, 15)).series[0]

    times = occurrences_after(series, start_of_day(date(2025, 1, 15), LONDON), 30)

    local_days = [local(moment, LONDON).date() for moment in times]
    gaps = {(b - a).days for a, b in zip(local_days, local_days[1:], strict=False)}
    assert gaps == {days_apart}


def test_it_stops_a_series_just_before_the_next_period_begins() -> None:
    treatment_end = date(2025, 1, 15)
    first_years, later_years = plan_for(Tier.VERY_HIGH, treatment_end).series
    period_change = start_of_day(date(2028, 1, 15), LONDON)

    last = occurrences_after(first_years, period_change - timedelta(days=8), 5)

    assert len(last) == 1
    assert last[0] < period_change
    assert next_occurrence(later_years, period_change - timedelta(seconds=1)) == datetime(
        2028, 1, 15, 10, 0, tzinfo=UTC
    )


# --- Enrolment, now, and no back-filling -------------------------------------------------------


def test_it_gives_a_patient_enrolled_3_years_late_only_the_visits_still_ahead() -> None:
    treatment_end = date(2022, 1, 15)
    enrolled_on = date(2025, 2, 13)  # month 36's windows have closed (+2 and +4 weeks)

    result = plan_for(Tier.HIGH, treatment_end, enrolled_on=enrolled_on)

    assert due_dates(result, VisitKind.CLINIC) == months_after(
        treatment_end, [*range(42, 61, 6), *range(72, 121, 12)]
    )
    assert due_dates(result, VisitKind.IMAGING) == months_after(treatment_end, range(48, 121, 12))
    [monthly] = result.series
    assert monthly.rule.startswith("FREQ=MONTHLY;INTERVAL=1;")
    assert monthly.next_due_at == datetime(2025, 2, 15, 10, 0, tzinfo=UTC)


def test_it_plans_a_visit_whose_window_is_still_open_at_enrolment() -> None:
    treatment_end = date(2022, 1, 15)
    enrolled_on = date(2025, 1, 20)  # month 36 was due on the 15th; its window is open

    result = plan_for(Tier.HIGH, treatment_end, enrolled_on=enrolled_on)

    first = visits_of(result, VisitKind.CLINIC)[0]
    assert first.due_date == date(2025, 1, 15)
    assert first.window_start < enrolled_on <= first.window_end


def test_it_plans_a_visit_due_on_the_enrolment_day() -> None:
    treatment_end = date(2022, 1, 15)
    enrolled_on = date(2025, 1, 15)

    result = plan_for(Tier.HIGH, treatment_end, enrolled_on=enrolled_on)

    assert due_dates(result, VisitKind.CLINIC)[0] == enrolled_on


def test_it_moves_next_due_at_to_now_when_now_is_after_enrolment() -> None:
    now = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

    result = plan_for(Tier.VERY_HIGH, date(2025, 1, 15), now=now)

    assert result.series[0].next_due_at == datetime(2025, 3, 5, 10, 0, tzinfo=UTC)


def test_it_ignores_a_now_before_enrolment() -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC)

    assert plan_for(Tier.HIGH, now=now) == plan_for(Tier.HIGH)


def test_it_drops_reminder_series_that_have_ended() -> None:
    result = plan_for(Tier.HIGH, date(2015, 1, 15), now=datetime(2025, 1, 15, 12, tzinfo=UTC))

    assert result.series == ()


def test_it_refuses_naive_datetimes() -> None:
    series = plan_for(Tier.HIGH).series[0]

    with pytest.raises(ValueError, match="now must be timezone-aware"):
        plan_for(Tier.HIGH, now=datetime(2025, 1, 15))
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        occurrences_after(series, datetime(2025, 1, 15), 1)


def test_it_respects_the_series_until() -> None:
    series = plan_for(Tier.HIGH).series[0]
    shortened = replace(series, until=datetime(2025, 2, 12, 10, 0))

    after = start_of_day(date(2025, 1, 1), LONDON)
    assert len(occurrences_after(shortened, after, 10)) == 3
    assert next_occurrence(shortened, datetime(2025, 2, 12, 10, 0, tzinfo=UTC)) is None


# --- Daylight saving time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "utc_hours_by_date"),
    [
        # Europe/London: BST from 29 March to 25 October 2026.
        (
            LONDON,
            {
                date(2026, 3, 23): 10,
                date(2026, 3, 30): 9,
                date(2026, 10, 19): 9,
                date(2026, 10, 26): 10,
            },
        ),
        # America/New_York: EDT from 8 March to 1 November 2026.
        (
            NEW_YORK,
            {
                date(2026, 3, 2): 15,
                date(2026, 3, 9): 14,
                date(2026, 10, 26): 14,
                date(2026, 11, 2): 15,
            },
        ),
    ],
)
def test_it_keeps_reminders_at_local_time_across_dst_changes(
    timezone: str, utc_hours_by_date: dict[date, int]
) -> None:
    treatment_end = date(2026, 1, 5)  # a Monday
    [weekly, _] = plan_for(Tier.VERY_HIGH, treatment_end, timezone=timezone).series

    times = occurrences_after(weekly, start_of_day(date(2026, 2, 1), timezone), 45)

    assert {local(moment, timezone).time() for moment in times} == {TEN}
    utc_hours = {local(moment, timezone).date(): moment.hour for moment in times}
    assert {day: utc_hours[day] for day in utc_hours_by_date} == utc_hours_by_date


def test_it_keeps_monthly_reminders_at_local_time_across_dst_changes() -> None:
    series = plan_for(Tier.STANDARD, date(2026, 1, 10), timezone=NEW_YORK).series[0]

    times = occurrences_after(series, start_of_day(date(2026, 1, 1), NEW_YORK), 12)

    assert [local(moment, NEW_YORK) for moment in times] == [
        datetime(2026, month, 10, 10, 0) for month in range(1, 13)
    ]
    assert [moment.hour for moment in times[1:4]] == [15, 14, 14]
    assert [moment.hour for moment in times[9:12]] == [14, 15, 15]


def test_it_finds_the_next_occurrence_across_the_spring_change() -> None:
    [weekly, _] = plan_for(Tier.VERY_HIGH, date(2026, 1, 5), timezone=LONDON).series

    after = datetime(2026, 3, 23, 10, 0, tzinfo=UTC)

    assert next_occurrence(weekly, after) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


# --- Month ends --------------------------------------------------------------------------------


def is_last_day_of_month(day: date) -> bool:
    return day.day == monthrange(day.year, day.month)[1]


def test_it_keeps_visits_on_the_month_end_after_treatment_ends_on_january_31() -> None:
    clinic = due_dates(plan_for(Tier.HIGH, date(2025, 1, 31)), VisitKind.CLINIC)

    assert clinic[:4] == [
        date(2025, 4, 30),
        date(2025, 7, 31),
        date(2025, 10, 31),
        date(2026, 1, 31),
    ]
    assert all(is_last_day_of_month(day) for day in clinic)


def test_it_does_not_drift_after_treatment_ends_on_august_31() -> None:
    clinic = due_dates(plan_for(Tier.STANDARD, date(2025, 8, 31)), VisitKind.CLINIC)

    assert clinic[:6] == [
        date(2026, 2, 28),
        date(2026, 8, 31),
        date(2027, 2, 28),
        date(2027, 8, 31),
        date(2028, 2, 29),
        date(2028, 8, 31),
    ]


def test_it_does_not_skip_short_months_in_monthly_reminders() -> None:
    treatment_end = date(2025, 1, 31)
    first_years, later_years = plan_for(Tier.STANDARD, treatment_end).series
    after = start_of_day(treatment_end, LONDON)

    times = occurrences_after(first_years, after, 100) + occurrences_after(later_years, after, 3)

    days = [local(moment, LONDON).date() for moment in times]
    assert days[0] == date(2025, 2, 28)
    assert {day.day for day in days} == {28}
    assert days == [date(2025, 2, 28) + relativedelta(months=n) for n in range(len(days))]
    assert days[-1] == date(2028, 4, 28)


# --- Properties --------------------------------------------------------------------------------

treatment_ends = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
enrolment_offsets = st.integers(min_value=0, max_value=12 * 366).map(lambda days: timedelta(days))
zones = st.sampled_from(ZONES)
reminder_times = st.builds(time, st.integers(8, 20), st.integers(0, 59))
tiers = st.sampled_from(Tier)


def follow_up_year(treatment_end: date, due: date) -> int:
    """Year 1 is (treatment end, treatment end + 12 months], and so on."""
    year = 1
    while due > treatment_end + relativedelta(months=12 * year):
        year += 1
    return year


@property_settings
@given(tiers, treatment_ends, enrolment_offsets, zones, reminder_times)
def test_it_plans_ordered_future_non_overlapping_visits(
    tier: Tier, treatment_end: date, offset: timedelta, timezone: str, reminder_time: time
) -> None:
    enrolled_on = treatment_end + offset

    result = plan_for(
        tier, treatment_end, enrolled_on=enrolled_on, timezone=timezone, reminder_time=reminder_time
    )

    keys = [(visit.due_date, visit.kind) for visit in result.visits]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert all(visit.window_end >= enrolled_on for visit in result.visits)
    for kind in VisitKind:
        visits = visits_of(result, kind)
        for earlier, later in zip(visits, visits[1:], strict=False):
            assert earlier.window_end < later.window_start


@property_settings
@given(treatment_ends, enrolment_offsets, zones, reminder_times)
def test_it_never_sees_a_higher_tier_less_often_in_any_year(
    treatment_end: date, offset: timedelta, timezone: str, reminder_time: time
) -> None:
    def clinic_visits_per_year(tier: Tier) -> list[int]:
        result = plan_for(
            tier,
            treatment_end,
            enrolled_on=treatment_end + offset,
            timezone=timezone,
            reminder_time=reminder_time,
        )
        # Visits due before enrolment are there only while their windows are open, and
        # the tiers' windows differ: compare the visits still due.
        due = [day for day in due_dates(result, VisitKind.CLINIC) if day >= treatment_end + offset]
        years = [follow_up_year(treatment_end, day) for day in due]
        return [years.count(year) for year in range(1, 11)]

    standard, high, very_high = (clinic_visits_per_year(tier) for tier in TIERS_LOW_TO_HIGH)
    assert all(s <= h <= v for s, h, v in zip(standard, high, very_high, strict=True))


@property_settings
@given(tiers, treatment_ends, enrolment_offsets, zones, reminder_times)
def test_it_plans_deterministically(
    tier: Tier, treatment_end: date, offset: timedelta, timezone: str, reminder_time: time
) -> None:
    def again() -> Plan:
        return plan_for(
            tier,
            treatment_end,
            enrolled_on=treatment_end + offset,
            timezone=timezone,
            reminder_time=reminder_time,
        )

    assert again() == again()


@property_settings
@given(tiers, treatment_ends, enrolment_offsets, zones, reminder_times)
def test_it_reminds_at_the_local_reminder_time_from_enrolment_on(
    tier: Tier, treatment_end: date, offset: timedelta, timezone: str, reminder_time: time
) -> None:
    enrolled_on = treatment_end + offset
    enrolment = start_of_day(enrolled_on, timezone)

    result = plan_for(
        tier, treatment_end, enrolled_on=enrolled_on, timezone=timezone, reminder_time=reminder_time
    )

    for series in result.series:
        assert series.next_due_at is not None
        assert series.next_due_at >= enrolment
        assert series.next_due_at.tzinfo is UTC
        assert occurrences_after(series, enrolment - timedelta(microseconds=1), 1) == [
            series.next_due_at
        ]
        times = occurrences_after(series, enrolment, 20)
        assert times == sorted(times)
        assert all(local(moment, timezone).time() == reminder_time for moment in times)


# --- the next occurrence without walking from the series' start --------------------------


def walked(series: PlannedSeries, after: datetime, count: int) -> list[datetime]:
    """The reference: the RRULE parsed as written and walked from its own start."""
    from dateutil.rrule import rrulestr

    zone = ZoneInfo(series.timezone)
    rule = rrulestr(series.rule, dtstart=series.dtstart)
    found = []
    for local in rule:
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        if moment > after:
            found.append(moment)
            if len(found) == count:
                break
    return found


@property_settings
@given(
    st.sampled_from(["WEEKLY", "MONTHLY"]),
    st.integers(min_value=1, max_value=6),
    st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(min_value=0, max_value=12 * 366),
    st.integers(min_value=-400, max_value=12 * 366),
    st.sampled_from(ZONES),
    st.times(),
)
def test_it_finds_the_next_occurrences_as_a_walk_from_the_start_would(
    frequency: str,
    interval: int,
    start: datetime,
    length_days: int,
    after_days: int,
    timezone: str,
    reminder_time: time,
) -> None:
    start = datetime.combine(start.date(), reminder_time.replace(microsecond=0))
    until = start + timedelta(days=length_days)
    series = PlannedSeries(
        kind="self_exam",
        rule=f"FREQ={frequency};INTERVAL={interval};UNTIL={until:%Y%m%dT%H%M%S}",
        dtstart=start,
        until=None,
        timezone=timezone,
        next_due_at=None,
    )
    after = (start + timedelta(days=after_days)).replace(tzinfo=UTC)

    assert occurrences_after(series, after, 3) == walked(series, after, 3)


@settings(max_examples=2000)
@given(
    moment=st.one_of(
        st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)),
    ),
    months=st.integers(min_value=-1200, max_value=1200),
)
def test_adding_months_agrees_with_relativedelta(moment, months):
    assert add_months(moment, months) == moment + relativedelta(months=months)
