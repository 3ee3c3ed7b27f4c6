"""Turn a tier's follow-up protocol into a plan for one person.

Visits and reminders are planned differently:

* Visits are materialised: there are a few dozen of them over ten years, each one is booked,
  attended or missed individually, so every visit becomes a row with its own date and window.
* Reminder series are not: a weekly SMS over ten years is hundreds of occurrences. A series is
  stored as an RFC 5545 RRULE plus `next_due_at`; the due-sweep sends what is due and advances
  `next_due_at` with `next_occurrence`.

All month arithmetic is done from the anchor (treatment end + n months) rather than
cumulatively, so a treatment ending on the 31st does not drift to the 28th after February.
Reminder series are expanded on naive local wall-clock times and converted to UTC only at the
end, so a 10:00 reminder stays at 10:00 local time across daylight saving changes.

Planning is deterministic and never back-fills: re-planning with the same inputs gives an
equal `Plan`, and nothing due before enrolment is planned.

This module is pure (no Django) so it can be tested exhaustively.
"""

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from typing import TypeVar
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

Moment = TypeVar("Moment", date, datetime)


class VisitKind(StrEnum):
    """Planned visit kinds. Urgent visits are created by staff, never planned."""

    CLINIC = "clinic"
    IMAGING = "imaging"


class Frequency(StrEnum):
    """Reminder frequencies; the values are RFC 5545 FREQ values."""

    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


@dataclass(frozen=True)
class VisitRule:
    """Visits due at treatment end + start_month + k * interval_months, for k = 1, 2, ...

    while the month is at most end_month (None: the end of follow-up).
    """

    kind: VisitKind
    start_month: int
    end_month: int | None
    interval_months: int
    window_days: int


@dataclass(frozen=True)
class ReminderRule:
    """Reminders every `interval` `frequency` from treatment end + start_month, at the local
    reminder time, strictly before treatment end + end_month (None: the end of follow-up)."""

    kind: str
    start_month: int
    end_month: int | None
    frequency: Frequency
    interval: int


@dataclass(frozen=True)
class TierProtocol:
    visit_rules: tuple[VisitRule, ...]
    reminder_rules: tuple[ReminderRule, ...]
    follow_up_months: int = 120


# A month is at least 28 days: a window this wide or wider could hold two visits.
_SHORTEST_MONTH_DAYS = 28


def protocol_problems(tiers: dict[str, TierProtocol]) -> list[str]:
    """Why these rules must not be put in force, in plain words ([] when they may).

    Every tier needs a clinic-visit rule and a self-exam reminder rule (a tier
    without them would have its future visits and reminders removed), every
    interval is at least 1, a visit's window is narrower than its interval, and
    a rule's end comes after its start.
    """
    problems = []
    for tier, protocol in tiers.items():
        if not any(rule.kind is VisitKind.CLINIC for rule in protocol.visit_rules):
            problems.append(f"{tier}: no clinic-visit rule.")
        if not any(rule.kind == "self_exam" for rule in protocol.reminder_rules):
            problems.append(f"{tier}: no self-exam reminder rule.")
        problems += [f"{tier}: {problem}" for problem in _visit_rule_problems(protocol)]
        problems += [
            f"{tier} {rule.kind} reminders: every {rule.interval} is not an interval."
            for rule in protocol.reminder_rules
            if rule.interval < 1
        ]
        problems += [
            f"{tier} {rule.kind} from month {rule.start_month}: ends before it starts."
            for rule in (*protocol.visit_rules, *protocol.reminder_rules)
            if rule.end_month is not None and rule.end_month <= rule.start_month
        ]
    return problems


def _visit_rule_problems(protocol: TierProtocol) -> list[str]:
    problems = []
    for rule in protocol.visit_rules:
        if rule.interval_months < 1:
            problems.append(f"{rule.kind} visits every {rule.interval_months} months.")
        elif 2 * rule.window_days >= rule.interval_months * _SHORTEST_MONTH_DAYS:
            problems.append(
                f"{rule.kind} visits every {rule.interval_months} months with a window of "
                f"+/- {rule.window_days} days: the window must be narrower than the interval."
            )
    return problems


@dataclass(frozen=True)
class PlannedVisit:
    kind: VisitKind
    due_date: date
    window_start: date
    window_end: date


@dataclass(frozen=True)
class PlannedSeries:
    kind: str
    rule: str
    """RFC 5545 RRULE text, e.g. "FREQ=WEEKLY;INTERVAL=2;UNTIL=20300101T100000"."""
    dtstart: datetime
    """Naive local wall-clock time of the first occurrence."""
    until: datetime | None
    """Naive local wall-clock time of the last possible occurrence (inclusive, like UNTIL)."""
    timezone: str
    """IANA time zone the wall-clock times are in."""
    next_due_at: datetime | None
    """Aware UTC time of the next occurrence to send."""


@dataclass(frozen=True)
class Plan:
    visits: tuple[PlannedVisit, ...]
    series: tuple[PlannedSeries, ...]


def plan(
    protocol: TierProtocol,
    *,
    treatment_end: date,
    enrolled_on: date,
    timezone: str,
    reminder_time: time,
    now: datetime | None = None,
) -> Plan:
    """Plan the visits and reminder series still ahead of a person enrolled on `enrolled_on`.

    A visit whose window is still open on the enrolment day is planned even if
    its due date has passed: it can still be done in time.

    Each series' `next_due_at` is its first occurrence at or after the later of the local start
    of the enrolment day and `now` (aware, optional); series with no such occurrence are dropped.
    """
    not_before = datetime.combine(enrolled_on, time.min, tzinfo=ZoneInfo(timezone))
    if now is not None:
        not_before = max(not_before, _require_aware(now, "now"))
    visits = [
        visit
        for rule in protocol.visit_rules
        for visit in _plan_visits(rule, treatment_end, protocol.follow_up_months)
        if visit.window_end >= enrolled_on
    ]
    series = (
        _plan_series(
            rule, protocol.follow_up_months, treatment_end, timezone, reminder_time, not_before
        )
        for rule in protocol.reminder_rules
    )
    return Plan(
        visits=tuple(sorted(visits, key=lambda visit: (visit.due_date, visit.kind))),
        series=tuple(s for s in series if s is not None),
    )


def occurrences_after(series: PlannedSeries, after: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences of `series` strictly after `after` (aware), in UTC."""
    after = _require_aware(after, "after")
    later = (occurrence for occurrence in _occurrences_from(series, after) if occurrence > after)
    return list(islice(later, count))


def next_occurrence(series: PlannedSeries, after: datetime) -> datetime | None:
    """The first occurrence of `series` strictly after `after` (aware), in UTC, if any."""
    found = occurrences_after(series, after, 1)
    return found[0] if found else None


def due_between(plan_: Plan, start: datetime, end: datetime) -> tuple[int, int]:
    """How many of the plan's visits fall due, and how many reminders go out, in [start, end)
    (aware)."""
    first, last = start.date(), end.date()
    visits = sum(1 for visit in plan_.visits if first <= visit.due_date < last)
    reminders = 0
    for series in plan_.series:
        for occurrence in _occurrences_from(series, _require_aware(start, "start")):
            if occurrence >= end:
                break
            reminders += 1
    return visits, reminders


def add_months(moment: Moment, months: int) -> Moment:
    """`moment` (a date or a datetime) plus calendar months, its day kept or brought back to
    the month's last, as dateutil's `relativedelta(months=...)` adds them (a property test
    holds the two equal): enrolment and the sweep add months hundreds of thousands of
    times, and relativedelta costs ten times this."""
    years, month_index = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month_index + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def _anchor(treatment_end: date, months: int) -> date:
    return add_months(treatment_end, months)


def _last_month(end_month: int | None, follow_up_months: int) -> int:
    return follow_up_months if end_month is None else min(end_month, follow_up_months)


def _plan_visits(
    rule: VisitRule, treatment_end: date, follow_up_months: int
) -> Iterator[PlannedVisit]:
    window = timedelta(days=rule.window_days)
    first_month = rule.start_month + rule.interval_months
    last_month = _last_month(rule.end_month, follow_up_months)
    for month in range(first_month, last_month + 1, rule.interval_months):
        due = _anchor(treatment_end, month)
        yield PlannedVisit(rule.kind, due, window_start=due - window, window_end=due + window)


def _plan_series(
    rule: ReminderRule,
    follow_up_months: int,
    treatment_end: date,
    timezone: str,
    reminder_time: time,
    not_before: datetime,
) -> PlannedSeries | None:
    start = _anchor(treatment_end, rule.start_month)
    if rule.frequency is Frequency.MONTHLY:
        start = _monthly_start(start)
    end = _anchor(treatment_end, _last_month(rule.end_month, follow_up_months))
    # The series stops strictly before `end`. Occurrences fall on whole days at reminder_time,
    # so the inclusive UNTIL is the reminder time on the day before.
    until = datetime.combine(end - timedelta(days=1), reminder_time)
    series = PlannedSeries(
        kind=rule.kind,
        rule=f"FREQ={rule.frequency};INTERVAL={rule.interval};UNTIL={until:%Y%m%dT%H%M%S}",
        dtstart=datetime.combine(start, reminder_time),
        until=until,
        timezone=timezone,
        next_due_at=None,
    )
    next_due_at = next(_occurrences_from(series, not_before), None)
    return None if next_due_at is None else replace(series, next_due_at=next_due_at)


def _monthly_start(anchor: date) -> date:
    """The first day on or after `anchor` that a monthly series can repeat on every month.

    RFC 5545 skips months that lack the start day, so a series starting on the 31st would fire
    only seven times a year. Monthly series therefore run on day min(day, 28). A period that
    begins on the 29th-31st starts on the next month's 28th rather than moving back, so a
    series never fires before its period begins or on the same day as the series before it.
    """
    if anchor.day <= 28:
        return anchor
    return anchor + relativedelta(months=1, day=28)


# Wall-clock order and UTC order can disagree by up to a DST shift (at most two hours).
_DST_MARGIN = timedelta(days=1)


def _occurrences_from(series: PlannedSeries, since: datetime) -> Iterator[datetime]:
    """Occurrences of `series` at or after `since` (aware), converted to UTC."""
    zone = ZoneInfo(series.timezone)
    local_since = since.astimezone(zone).replace(tzinfo=None) - _DST_MARGIN
    for local in _local_occurrences(series, local_since):
        # fold=0: an ambiguous wall time is its first instance; one that a spring-forward gap
        # skips is shifted forward by the length of the gap.
        occurrence = local.replace(tzinfo=zone).astimezone(UTC)
        if occurrence >= since:
            yield occurrence


# The rules the planner writes: a fixed step from dtstart, so where the step lands next is
# arithmetic. Other rules (edited by hand: BYDAY, COUNT...) are walked by dateutil.
_FIXED_STEP = re.compile(r"FREQ=(WEEKLY|MONTHLY);INTERVAL=(\d+)(;UNTIL=\d{8}T\d{6})?")


@dataclass(frozen=True)
class _FixedStep:
    weekly: bool
    interval: int
    until: datetime | None


@lru_cache(maxsize=1024)
def _fixed_step(rule: str) -> _FixedStep | None:
    step = _FIXED_STEP.fullmatch(rule)
    if step is None:
        return None
    until = datetime.fromisoformat(step[3].removeprefix(";UNTIL=")) if step[3] else None
    return _FixedStep(weekly=step[1] == "WEEKLY", interval=int(step[2]), until=until)


def _local_occurrences(series: PlannedSeries, near: datetime) -> Iterator[datetime]:
    """The series' naive local occurrences at or after `near` (naive local), in order.

    A fixed-step rule's n-th occurrence is dtstart plus n steps, so the walk
    starts a step before `near` instead of at dtstart (years of steps back):
    the same occurrences as dateutil's walk, property-tested against it. The
    `until` field is authoritative over any UNTIL in the text.
    """
    step = _fixed_step(series.rule)
    start = series.dtstart
    if step is None or (not step.weekly and start.day > 28):
        # RFC 5545 skips the months without a day past the 28th: no fixed step.
        parsed = rrulestr(series.rule, dtstart=start)
        if series.until is not None:
            parsed = parsed.replace(until=series.until)
        yield from parsed.xafter(near, inc=True)
        return
    until = series.until or step.until
    index = _steps_before(start, near, step)
    while True:
        if step.weekly:
            local = start + timedelta(weeks=index * step.interval)
        else:
            local = add_months(start, index * step.interval)
        if until is not None and local > until:
            return
        if local >= near:
            yield local
        index += 1


def _steps_before(start: datetime, near: datetime, step: _FixedStep) -> int:
    """How many steps from `start` lead at least one step before `near` (never negative)."""
    if step.weekly:
        return max((near - start).days // 7 // step.interval - 1, 0)
    months = (near.year - start.year) * 12 + near.month - start.month
    return max(months // step.interval - 1, 0)


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment
