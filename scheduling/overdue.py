"""Which visits are overdue or due soon, as queries PostgreSQL answers from an index.

Overdue: marked missed, or still planned or booked after its window ended
(the window's end before the cohort's own today: `cohorts.site_days`). Both
are scoped by the visit's own cohort (`Visit.cohort`), which leads the partial
indexes. The cohorts are grouped by their today (one or two days at any
moment), so each condition is "these cohorts, a window ending before that
day": no join to the cohorts' time zones, and ranges the partial indexes
`visit_owed_window_end`, `visit_missed` and `visit_open_window_start` serve
directly, without reading the 1.5 million visits of a large clinic. Each
date's range is counted or paged on its own (`overdue_parts`, `due_soon_parts`):
an OR of ranges PostgreSQL answers from the table's rows, each range alone from
its index.
"""

import operator
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from .models import Visit

STILL_OWED = (Visit.Status.PLANNED, Visit.Status.BOOKED)
NOTHING = Q(pk__in=[])


def by_today(cohorts, now: datetime | None = None) -> dict[date, list[int]]:
    """The cohorts' ids grouped by their own date now."""
    now = now or timezone.now()
    grouped = defaultdict(list)
    for cohort in cohorts:
        grouped[timezone.localdate(now, ZoneInfo(cohort.timezone))].append(cohort.pk)
    return dict(grouped)


def _ended_by_today(cohorts, now: datetime | None) -> list[Q]:
    """Planned or booked visits of `cohorts` whose window ended before the cohort's today:
    one range of `visit_owed_window_end` per date the cohorts are on."""
    return [
        Q(status__in=STILL_OWED, cohort_id__in=ids, window_end__lt=today)
        for today, ids in by_today(cohorts, now).items()
    ]


def overdue_parts(cohorts, now: datetime | None = None) -> list[Q]:
    """The kinds of overdue visit of `cohorts`, disjoint: missed, and owed with their window
    ended, for each date the cohorts are on. Each is one range of a partial index
    (`visit_missed`, `visit_owed_window_end`) that holds what the list sorts by: counted and
    paged part by part, the overdue list reads those indexes alone (`bulk_sql.parts.in_parts`)."""
    ids = [cohort.pk for cohort in cohorts]
    missed = Q(status=Visit.Status.MISSED, cohort_id__in=ids) if ids else NOTHING
    return [missed, *_ended_by_today(cohorts, now)]


def overdue(cohorts, now: datetime | None = None) -> Q:
    """The visits of `cohorts` that are overdue today: missed, or owed and ended."""
    return reduce(operator.or_, overdue_parts(cohorts, now))


def due_soon_parts(cohorts, days: int = 14, now: datetime | None = None) -> list[Q]:
    """Still-owed visits of `cohorts` whose window opens within `days` of the cohort's today:
    one range of `visit_open_window_start` per date the cohorts are on."""
    ahead = timedelta(days=days)
    return [
        Q(
            status__in=STILL_OWED,
            cohort_id__in=ids,
            window_start__gte=today,
            window_start__lte=today + ahead,
        )
        for today, ids in by_today(cohorts, now).items()
    ]
