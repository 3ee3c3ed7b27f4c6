"""Inbound SMS: stored first, then routed. Nothing a patient writes is dropped.

Routing order: the carrier keywords (STOP, START, HELP), then the handlers
other apps register (the lesion questionnaire, self-exam answers), and what
nobody understands goes to the coordinators' inbox (`needs_review`). A
message whose routing crashed stays unrouted and is routed again later by
`route_unrouted`.
"""

import logging
import re
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from surveillance.models import Patient

from . import outbox
from .models import Message
from .sms_templates import contact_line

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}

# A handler gets the stored message and its patient; it returns a short label
# of what it did ("self_exam_ok", ...) or "" when the message is not for it.
Handler = Callable[[Message, Patient], str]
_handlers: list[Handler] = []


def register(handler: Handler) -> Handler:
    """Register a handler for inbound messages (usable as a decorator)."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def keyword(body: str) -> str:
    """The message as a carrier keyword ("Stop." -> "STOP"), or "" if it is more than a word."""
    words = body.strip().split()
    return re.sub(r"[\W_]", "", words[0]).upper() if len(words) == 1 else ""


def store(sid: str, from_number: str, to_number: str, body: str) -> tuple[Message, bool]:
    """Save the inbound message; a replayed webhook (same sid) stores nothing new."""
    patients = list(Patient.objects.filter(phone=from_number, is_active=True)[:2])
    message, created = Message.objects.get_or_create(
        provider_sid=sid,
        defaults={
            "patient": patients[0] if len(patients) == 1 else None,
            "direction": Message.Direction.INBOUND,
            "kind": Message.Kind.INBOUND,
            "status": Message.Status.RECEIVED,
            "body": body,
            "from_number": from_number,
            "to_number": to_number,
        },
    )
    return message, created


@transaction.atomic
def route(message_id: int) -> str:
    message = Message.objects.select_for_update().get(pk=message_id)
    if message.routed_at is not None:
        return message.routed_as
    outcome = _route(message)
    message.routed_at, message.routed_as = timezone.now(), outcome
    message.needs_review = message.needs_review or outcome == "inbox"
    message.save(update_fields=["routed_at", "routed_as", "needs_review", "modified_on"])
    return outcome


def _route(message: Message) -> str:
    patient = message.patient
    if patient is None:
        return "inbox"  # unknown or shared number: a person must look
    word = keyword(message.body)
    if word in STOP_WORDS:
        return _opt_out(patient)
    if word in START_WORDS and patient.sms_opted_out_at:
        return _opt_in(patient, message)
    if word in HELP_WORDS:
        outbox.queue(
            patient, "help", f"help:{message.pk}", is_reply=True, contact=_contact(patient)
        )
        return "help"
    for handler in _handlers:
        outcome = handler(message, patient)
        if outcome:
            return outcome
    return "inbox"


def _opt_out(patient: Patient) -> str:
    Patient.objects.filter(pk=patient.pk, sms_opted_out_at__isnull=True).update(
        sms_opted_out_at=timezone.now()
    )
    return "opt_out"


def _opt_in(patient: Patient, message: Message) -> str:
    Patient.objects.filter(pk=patient.pk).update(sms_opted_out_at=None)
    patient.sms_opted_out_at = None
    outbox.queue(patient, "opted_in", f"opted_in:{message.pk}", is_reply=True)
    return "opt_in"


def _contact(patient: Patient) -> str:
    return contact_line(patient.language, patient.cohort.contact_phone)


def route_safely(message_id: int) -> None:
    """Route now; if that fails the message stays stored and unrouted for a retry."""
    try:
        route(message_id)
    except Exception:
        logger.exception("Routing inbound message %s failed; it will be retried", message_id)


def route_unrouted(limit: int = 500) -> int:
    pending = Message.objects.filter(direction=Message.Direction.INBOUND, routed_at__isnull=True)
    ids = list(pending.order_by("created_on").values_list("pk", flat=True)[:limit])
    for message_id in ids:
        route_safely(message_id)
    return len(ids)
