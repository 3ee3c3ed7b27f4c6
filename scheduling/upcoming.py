"""Every SMS a patient is due to get, before it goes: what a coordinator checks
before pausing or after changing a reminder time."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notifications import claim
from notifications.models import Message


@dataclass(frozen=True)
class UpcomingSend:
    kind: str
    due_at: datetime
    source: str  # "outbox", "reminder_series" or "visit"
    held_because: str = ""


def upcoming_sends(patient, now: datetime, per_series: int = 3) -> list[UpcomingSend]:
    sends = [
        _queued(message, patient, now)
        for message in patient.messages.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED
        )
    ]
    zone = ZoneInfo(patient.timezone)
    for series in patient.reminder_series.filter(is_active=True, next_due_at__isnull=False):
        sends += [
            UpcomingSend(
                series.kind,
                moment,
                "reminder_series",
                _paused(patient, moment.astimezone(zone).date()),
            )
            for moment in series.upcoming(per_series)
        ]
    for visit in patient.visits.filter(status="booked", next_reminder_at__isnull=False):
        sends.append(UpcomingSend("visit_reminder", visit.next_reminder_at, "visit"))
    return sorted(sends, key=lambda send: send.due_at)


def _paused(patient, day) -> str:
    """The sweep skips occurrences during a pause: say so rather than promise them."""
    return "paused" if patient.reminders_paused_on(day) else ""


def _queued(message: Message, patient, now: datetime) -> UpcomingSend:
    moment = max(now, message.send_after or now)
    decision = claim.decide(message, patient.contact, moment, patient.reminders_paused_until)
    return UpcomingSend(message.kind, decision.send_at, "outbox", decision.reason)
