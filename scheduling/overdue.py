"""Which visits are overdue or due soon, as queries PostgreSQL answers from an index.

Overdue: marked missed, or still planned or booked after its window ended
(the window's end before the cohort's own today: `cohorts.site_days`). Both
are scoped by the visit's own cohort (`Visit.cohort`), which leads the partial
indexes. The
per-zone condition alone would make PostgreSQL read every visit; the bound
below it (before the latest "today" of any zone) lets the partial index
`visit_open_window_end` find the few ended windows among a cohort's 1.5
million visits, and `visit_missed` the missed ones; `visit_open_window_start`
serves the windows opening soon.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from cohorts.site_days import per_zone

from .models import Visit

STILL_OWED = (Visit.Status.PLANNED, Visit.Status.BOOKED)


def overdue(cohorts, now: datetime | None = None) -> Q:
    """The visits of `cohorts` that are overdue today, each by its own cohort's date."""
    now = now or timezone.now()
    todays = [timezone.localdate(now, ZoneInfo(cohort.timezone)) for cohort in cohorts]
    if not todays:
        return Q(pk__in=[])
    zone = "cohort__timezone"
    ended = per_zone(cohorts, zone, lambda today, _: Q(window_end__lt=today), now)
    owed = Q(status__in=STILL_OWED, window_end__lt=max(todays)) & ended
    return Q(cohort__in=_ids(cohorts)) & (Q(status=Visit.Status.MISSED) | owed)


def due_soon(cohorts, days: int = 14, now: datetime | None = None) -> Q:
    """Still-owed visits of `cohorts` whose window opens within `days` of the cohort's today."""
    now = now or timezone.now()
    todays = [timezone.localdate(now, ZoneInfo(cohort.timezone)) for cohort in cohorts]
    if not todays:
        return Q(pk__in=[])
    ahead = timedelta(days=days)
    zone = "cohort__timezone"
    opening = per_zone(
        cohorts,
        zone,
        lambda today, _: Q(window_start__gte=today, window_start__lte=today + ahead),
        now,
    )
    bound = Q(window_start__gte=min(todays), window_start__lte=max(todays) + ahead)
    return Q(cohort__in=_ids(cohorts), status__in=STILL_OWED) & bound & opening


def _ids(cohorts) -> list[int]:
    """The cohorts' ids as values: PostgreSQL plans an index scan per cohort from them,
    where a subquery of the user's cohorts leaves it guessing."""
    return [cohort.pk for cohort in cohorts]
