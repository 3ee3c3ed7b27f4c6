"""When an SMS may go: quiet hours and the frequency cap. Pure, no Django.

SMS is sent only between 08:00 and 21:00 in the recipient's own time zone. A
routine message also respects a frequency cap (by default at most one a day
and three a week, following the FCC's conditions for exempted healthcare
messages); urgent messages and replies in an ongoing conversation are exempt
from the cap, never from quiet hours. A message the rules hold back waits:
this module says until when, it never drops anything. A message not sent
within its useful life (`USEFUL_LIFE`: an outage, a long hold) expires,
visibly, rather than reaching the patient late.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SENDING_STARTS = time(8, 0)
SENDING_ENDS = time(21, 0)
DAY, WEEK = timedelta(days=1), timedelta(days=7)


@dataclass(frozen=True)
class Cap:
    per_day: int = 1
    per_week: int = 3


@dataclass(frozen=True)
class Decision:
    send_at: datetime
    reason: str
    """Why it waits: "", "paused", "frequency_cap" or "quiet_hours"."""


def earliest_send(
    now: datetime,
    timezone: str,
    *,
    routine_sent_at: Sequence[datetime] = (),
    cap: Cap = Cap(),
    exempt: bool = False,
    paused_until: date | None = None,
) -> Decision:
    """The earliest moment (>= now) the message may be sent, and what held it back.

    `routine_sent_at` are the send times of the number's earlier routine SMS.
    `exempt` is true for urgent messages and replies: no cap, no pause.
    """
    zone = ZoneInfo(timezone)
    send_at, reason = now, ""
    if not exempt:
        resume = _after_pause(now, zone, paused_until)
        if resume > send_at:
            send_at, reason = resume, "paused"
        capped = _after_cap(routine_sent_at, cap)
        if capped > send_at:
            send_at, reason = capped, "frequency_cap"
    allowed = _outside_quiet_hours(send_at, zone)
    if allowed > send_at:
        send_at, reason = allowed, "quiet_hours"
    return Decision(send_at.astimezone(UTC), reason)


def _after_pause(now: datetime, zone: ZoneInfo, paused_until: date | None) -> datetime:
    if paused_until is None or now.astimezone(zone).date() > paused_until:
        return now
    return datetime.combine(paused_until + DAY, SENDING_STARTS, tzinfo=zone)


def _after_cap(sent_at: Sequence[datetime], cap: Cap) -> datetime:
    """When the day's and the week's budgets both have room again."""
    latest = sorted(sent_at, reverse=True)
    free = datetime.min.replace(tzinfo=UTC)
    for window, limit in ((DAY, cap.per_day), (WEEK, cap.per_week)):
        if len(latest) >= limit:
            free = max(free, latest[limit - 1] + window)
    return free


def _outside_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if local.time() < SENDING_STARTS:
        return datetime.combine(local.date(), SENDING_STARTS, tzinfo=zone)
    if local.time() >= SENDING_ENDS:
        return datetime.combine(local.date() + DAY, SENDING_STARTS, tzinfo=zone)
    return moment


# How long after it was due each kind of message is still worth sending. Past
# it, a message never sent (an outage, a long hold) expires, visibly, instead
# of reaching the patient late: a self-exam reminder is superseded by the next
# one, an answer to a conversation long over only confuses. A caller may give
# a shorter life (a visit reminder ends at its appointment).
USEFUL_LIFE = {
    "self_exam": timedelta(days=3),
    "visit_reminder": timedelta(days=7),
    "check_in": timedelta(days=2),
    "question": timedelta(days=1),
    "report_received": timedelta(days=2),
    "visit_booked": timedelta(days=3),
    "reply": timedelta(days=1),
    "help": timedelta(days=1),
    "opted_in": timedelta(days=1),
    "staff_alert": timedelta(days=1),
}
DEFAULT_USEFUL_LIFE = timedelta(days=2)


def expires_at(kind: str, due: datetime, until: datetime | None = None) -> datetime:
    """When a message of `kind` due at `due` stops being worth sending (`until` if sooner)."""
    end = due + USEFUL_LIFE.get(kind, DEFAULT_USEFUL_LIFE)
    return min(end, until) if until is not None else end
