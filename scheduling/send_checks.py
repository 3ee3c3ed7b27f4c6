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


def visit_still_booked(message: Message) -> hooks.SendCheck | None:
    if message.kind != Message.Kind.VISIT_REMINDER:
        return None
    reminded = _reminded(message.idempotency_key or "")
    if reminded is None:
        return None
    visit_id, booked_at = reminded
    visit = Visit.objects.filter(pk=visit_id).only("status", "booked_at").first()
    still = visit is not None and visit.status == Visit.Status.BOOKED
    if not still or visit.booked_at.replace(microsecond=0) != booked_at:
        return hooks.SendCheck(cancel="The visit was rebooked, done or cancelled since.")
    if booked_at <= timezone.now():
        return hooks.SendCheck(cancel="The appointment has already passed.")
    return None


def register() -> None:
    hooks.checks_sends(visit_still_booked)
