"""Dates on the site's calendar: "today" is the cohort's today, not the server's.

A server in UTC and a clinic in Los Angeles disagree about the date for eight
hours a day: a visit's window that ended yesterday in Los Angeles is not
overdue yet there. Queries over several cohorts ask one question per time zone.
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from .models import Cohort


def today(cohort: Cohort, now: datetime | None = None) -> date:
    return timezone.localdate(now or timezone.now(), ZoneInfo(cohort.timezone))


def per_zone(
    cohorts: Iterable[Cohort], zone_path: str, condition: Callable[[date, ZoneInfo], Q], now=None
) -> Q:
    """`condition(local today, zone)` for the rows of each cohort zone, OR'ed together.

    `zone_path` leads from the queried model to the cohort's time zone, e.g.
    "patient__cohort__timezone". No cohort: a condition nothing matches.
    """
    now = now or timezone.now()
    combined = Q(pk__in=[])
    for name in sorted({cohort.timezone for cohort in cohorts}):
        zone = ZoneInfo(name)
        combined |= Q(**{zone_path: name}) & condition(timezone.localdate(now, zone), zone)
    return combined
