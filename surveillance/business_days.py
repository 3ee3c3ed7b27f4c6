"""Review deadlines in business days. Pure, no Django.

A flag raised on Friday evening with a one-business-day SLA is due on Monday
at the same time of day (or Tuesday if Monday is a holiday): weekends and the
configured holidays do not count, in the cohort's local time zone.
"""

from collections.abc import Collection
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def is_business_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(
    start: datetime, days: int, timezone: str, holidays: Collection[date] = ()
) -> datetime:
    """`start` moved forward by `days` business days, at the same local time.

    A start on a weekend or holiday counts from the next business day's
    start: a report on Saturday with a 1-day SLA is due when Monday ends
    (Tuesday 00:00), one full business day later.
    """
    zone = ZoneInfo(timezone)
    local = start.astimezone(zone)
    if not is_business_day(local.date(), holidays):
        local = datetime.combine(
            _next_business_day(local.date(), holidays), datetime.min.time(), tzinfo=zone
        )
    day = local.date()
    for _ in range(days):
        day = _next_business_day(day, holidays)
    return datetime.combine(day, local.time(), tzinfo=zone)


def _next_business_day(day: date, holidays: Collection[date]) -> date:
    day += timedelta(days=1)
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return day
