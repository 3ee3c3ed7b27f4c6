"""Weekly trends for the dashboard: self-exam response rate, on-time review rate, visits kept.

Each is one grouped query over the last WEEKS weeks of the user's cohorts
(kept in the cache for a few minutes; counted afresh when it is down), drawn
server-side as an SVG line (`Chart`): no charting script, nothing from outside.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Q
from django.db.models.functions import TruncWeek

from notifications.models import Message
from scheduling.models import Visit
from shared_cache import kept
from surveillance.models import Flag, SelfExamCheck

WEEKS = 12
KEEP_SECONDS = 600
WIDTH, HEIGHT, PAD = 360, 120, 6


@dataclass
class Chart:
    title: str
    what: str
    weeks: list  # (week start, numerator, denominator)

    @property
    def rates(self) -> list:
        return [(week, round(100 * n / d) if d else None, n, d) for week, n, d in self.weeks]

    @property
    def points(self) -> str:
        """The SVG polyline of the weeks that had any: x by week, y by rate (0-100 %)."""
        step = (WIDTH - 2 * PAD) / max(len(self.weeks) - 1, 1)
        return " ".join(
            f"{PAD + i * step:.1f},{PAD + (HEIGHT - 2 * PAD) * (1 - rate / 100):.1f}"
            for i, (_, rate, _, _) in enumerate(self.rates)
            if rate is not None
        )

    @property
    def latest(self) -> str:
        known = [rate for _, rate, _, _ in self.rates if rate is not None]
        return f"{known[-1]} %" if known else "no data yet"


def _monday(moment: datetime) -> datetime:
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start - timedelta(days=start.weekday())


def _weekly(queryset, field: str, since: datetime, kept: Q) -> list:
    rows = (
        queryset.filter(**{f"{field}__gte": since})
        .annotate(week=TruncWeek(field, tzinfo=UTC))
        .values("week")
        .annotate(total=Count("pk"), kept=Count("pk", filter=kept))
    )
    found = {row["week"].date(): (row["kept"], row["total"]) for row in rows}
    weeks = [(since + timedelta(weeks=n)).date() for n in range(WEEKS)]
    return [(week, *found.get(week, (0, 0))) for week in weeks]


def charts(cohorts, now: datetime) -> list[Chart]:
    """The charts of these cohorts, computed at most every KEEP_SECONDS (weekly figures: a few
    minutes' lag changes nothing, and each costs a scan of twelve weeks of rows)."""
    ids = ",".join(str(cohort.pk) for cohort in sorted(cohorts, key=lambda c: c.pk))
    key = f"staff-trends:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"
    return kept(key, lambda: _charts(cohorts, now), KEEP_SECONDS)


def _charts(cohorts, now: datetime) -> list[Chart]:
    since = _monday(now) - timedelta(weeks=WEEKS - 1)
    reminders = Message.objects.filter(
        patient__cohort__in=cohorts,
        kind=Message.Kind.SELF_EXAM,
        direction=Message.Direction.OUTBOUND,
    )
    answered = SelfExamCheck.objects.filter(patient__cohort__in=cohorts, answered_at__gte=since)
    sent = _weekly(reminders, "sent_at", since, Q())
    answers = {week: total for week, _, total in _weekly(answered, "answered_at", since, Q())}
    response = [(week, min(answers.get(week, 0), total), total) for week, _, total in sent]
    on_time = Q(acknowledged_at__lte=F("review_due_at")) | Q(resolved_at__lte=F("review_due_at"))
    due = Flag.objects.filter(patient__cohort__in=cohorts, review_due_at__lt=now)
    visits = Visit.objects.filter(
        cohort__in=cohorts, status__in=[Visit.Status.COMPLETED, Visit.Status.MISSED]
    )
    kept = Q(status=Visit.Status.COMPLETED)
    return [
        Chart("Self-exam response rate", "reminders answered, of those sent", response),
        Chart(
            "On-time review rate",
            "flags reviewed by their deadline",
            _weekly(due, "review_due_at", since, on_time),
        ),
        Chart(
            "Visits kept",
            "visits completed, of those completed or missed",
            _weekly(visits, "status_changed_at", since, kept),
        ),
    ]
