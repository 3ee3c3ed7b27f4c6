"""Inbound SMS: stored first, then routed. Nothing anyone writes is dropped.

Routing order: the carrier keywords (STOP, START, HELP), then the handlers
other apps register in `hooks` (the lesion questionnaire, self-exam answers;
for a number several patients share, what cannot wait for a coordinator to
say whose the message is), and what nobody understands goes to the
coordinators' inbox (`needs_review`). A
message whose routing crashed stays unrouted and is routed again later by
`route_unrouted`.
"""

import logging
import re

from django.db import transaction
from django.utils import timezone

from . import hooks, outbox
from .models import Contact, Message
from .sms_templates import contact_line

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}


def keyword(body: str) -> str:
    """The message as a carrier keyword ("Stop." -> "STOP"), or "" if it is more than a word."""
    words = body.strip().split()
    return re.sub(r"[\W_]", "", words[0]).upper() if len(words) == 1 else ""


def store(sid: str, from_number: str, to_number: str, body: str) -> tuple[Message, bool]:
    """Save the inbound message; a replayed webhook (same sid) stores nothing new.

    The number's contact is found, or made (without consent) so that what it
    says, STOP included, is kept against it. The subject is whoever the apps
    above say the number belongs to: nobody when it is unknown or shared.
    """
    existing = Message.objects.filter(provider_sid=sid).first()
    if existing is not None:
        return existing, False
    contact = Contact.objects.filter(number=from_number).first()
    if contact is None:
        Contact.objects.bulk_create([Contact(number=from_number)], ignore_conflicts=True)
        contact = Contact.objects.get(number=from_number)
    return Message.objects.get_or_create(
        provider_sid=sid,
        defaults={
            "contact": contact,
            "subject": hooks.sender(contact).subject,
            "direction": Message.Direction.INBOUND,
            "kind": Message.Kind.INBOUND,
            "status": Message.Status.RECEIVED,
            "body": body,
            "from_number": from_number,
            "to_number": to_number,
        },
    )


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
    """Carrier keywords act on the number (shared or not); the rest needs one subject."""
    contact, word = message.contact, keyword(message.body)
    if word in STOP_WORDS:
        return _opt_out(contact)
    # START and HELP too act on the number, whoever wrote: from a number several sites
    # share (or nobody's), the answer names no site ("your clinic").
    sender = hooks.sender(contact)
    if word in START_WORDS and contact.opted_out_at:
        return _opt_in(contact, message, sender)
    if word in HELP_WORDS:
        return _help(contact, message, sender)
    if message.subject_id is None:
        # Unknown or shared number: a person must look, whatever a handler does now.
        message.needs_review = True
        return _handle(message, hooks.unclaimed_handlers())
    return _handle(message)


def _handle(message: Message, handlers=None) -> str:
    """The first registered handler's label for the message, or "inbox" if none took it."""
    if message.subject_id is not None:
        hooks.heard_from(message)
    for handler in hooks.reply_handlers() if handlers is None else handlers:
        outcome = handler(message)
        if outcome:
            return outcome
    return "inbox"


def _opt_out(contact: Contact) -> str:
    Contact.objects.filter(pk=contact.pk, opted_out_at__isnull=True).update(
        opted_out_at=timezone.now()
    )
    return "opt_out"


def _opt_in(contact: Contact, message: Message, sender: hooks.Sender) -> str:
    Contact.objects.filter(pk=contact.pk).update(opted_out_at=None)
    contact.opted_out_at = None
    _reply(message, "opted_in", site=sender.site)
    return "opt_in"


def _help(contact: Contact, message: Message, sender: hooks.Sender) -> str:
    line = contact_line(contact.language, sender.help_phone)
    _reply(message, "help", site=sender.site, contact=line)
    return "help"


def _reply(message: Message, kind: str, **context) -> None:
    """Answer the number that wrote, about whoever the message was about."""
    key = f"{kind}:{message.pk}"
    outbox.queue(message.contact, kind, key, subject=message.subject, is_reply=True, **context)


@transaction.atomic
def route_to_subject(message_id: int, subject) -> str:
    """A person said whose message this is (a shared number): give it to the handlers now.

    Only an inbound message without a subject can be given one. The handlers
    see it as if it had just come, so a lesion report it contains becomes a
    flag now, counted from when the patient wrote.
    """
    message = Message.objects.select_for_update().get(pk=message_id)
    if message.direction != Message.Direction.INBOUND or message.subject_id is not None:
        raise ValueError("Only an inbound message without a subject can be assigned.")
    message.subject = subject
    message.routed_at, message.routed_as = timezone.now(), _handle(message)
    message.save(
        update_fields=[
            "subject_type",
            "subject_id",
            "routed_at",
            "routed_as",
            "needs_review",
            "modified_on",
        ]
    )
    return message.routed_as


def receive(sid: str, from_number: str, to_number: str, body: str) -> Message:
    """An SMS that came in (Twilio's webhook, once signed; the development phone simulator):
    stored first, then routed; a replay (same sid) is stored and routed once."""
    with transaction.atomic():
        message, created = store(sid, from_number, to_number, body)
    if created:
        route_safely(message.pk)
    return message


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
