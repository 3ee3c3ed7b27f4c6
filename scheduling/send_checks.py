"""Whether a visit reminder is still wanted when it is about to go.

A reminder is written for one appointment time. If the visit was rebooked,
completed, missed or cancelled since, that reminder would give the patient a
wrong date: it is cancelled at send time (the rebooked visit gets its own).
Nor does a reminder held back (quiet hours, the cap) go out once the
appointment has passed.
"""

from datetime import UTC, datetime

from django.utils import timezone

from notifications import hooks
from notifications.models import Message

from .models import REMINDER_KEY_STAMP, Visit


def _reminded(key: str) -> tuple[int, datetime] | None:
    """(visit id, appointment time) from a visit reminder's key, or None if not one."""
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != "visit" or not parts[1].isdigit():
        return None
    try:
        return int(parts[1]), datetime.strptime(parts[2], REMINDER_KEY_STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def visit_still_booked(messages: list[Message]) -> dict[int, hooks.SendCheck]:
    reminded = {
        message.pk: found
        for message in messages
        if message.kind == Message.Kind.VISIT_REMINDER
        and (found := _reminded(message.idempotency_key or ""))
    }
    visits = Visit.objects.only("status", "booked_at").in_bulk(
        {visit_id for visit_id, _ in reminded.values()}
    )
    verdicts = {}
    for message_id, (visit_id, booked_at) in reminded.items():
        cancel = _why_not_wanted(visits.get(visit_id), booked_at)
        if cancel:
            verdicts[message_id] = hooks.SendCheck(cancel=cancel)
    return verdicts


def _why_not_wanted(visit: Visit | None, booked_at: datetime) -> str:
    still = visit is not None and visit.status == Visit.Status.BOOKED
    if not still or visit.booked_at.replace(microsecond=0) != booked_at:
        return "The visit was rebooked, done or cancelled since."
    if booked_at <= timezone.now():
        return "The appointment has already passed."
    return ""


def register() -> None:
    hooks.checks_sends(visit_still_booked)
