"""What the SMS layer asks of the apps above it, through registries it owns.

This app knows phone numbers, not patients. The apps that do register here:

- reply handlers: "who handles this reply" (a self-exam answer, a
  questionnaire answer). Each gets the stored inbound message and returns a
  short label of what it did, or "" when the message is not for it.
- unclaimed handlers: the same, for a message from a number that is not one
  person's (shared by several): what cannot wait until a coordinator says
  whose it is (a lesion report raises its flag at once).
- send-time checks: "is this message still wanted, and may it go now" (the
  patient left follow-up, the visit was rebooked, reminders are paused). Each
  gets the messages claimed together and returns a `SendCheck` for those it has
  a say on, by message id (one query for a batch, not one per message).
- the sender: who a number belongs to and what the care team's answers say
  (the subject of an inbound message, the site and phone in a HELP answer).
- listeners: told of every message a known subject wrote (before its handler
  runs), to note that they answered; they return nothing and claim nothing.

A registry is a plain list filled at start-up (`AppConfig.ready`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .models import Contact, Message


@dataclass(frozen=True)
class SendCheck:
    """A higher layer's say on a message about to go."""

    cancel: str = ""
    """Why the message is no longer wanted ("" when it still is)."""
    paused_until: date | None = None
    """Routine messages wait until the day after this date (a pause)."""


@dataclass(frozen=True)
class Sender:
    """Who writes to a number: what a HELP answer and an inbound message need."""

    subject: Any = None
    """The one model instance this number belongs to, or None (unknown or shared)."""
    site: str = ""
    help_phone: str = ""


ReplyHandler = Callable[[Message], str]
SendCheckFn = Callable[[list[Message]], dict[int, SendCheck]]
SenderFn = Callable[[Contact], Sender | None]

_reply_handlers: list[ReplyHandler] = []
_unclaimed_handlers: list[ReplyHandler] = []
_send_checks: list[SendCheckFn] = []
_senders: list[SenderFn] = []
_listeners: list[Callable[[Message], None]] = []


def _add(registry: list, function):
    if function not in registry:
        registry.append(function)
    return function


def handles_replies(handler: ReplyHandler) -> ReplyHandler:
    """Register a handler for inbound messages (usable as a decorator)."""
    return _add(_reply_handlers, handler)


def handles_unclaimed(handler: ReplyHandler) -> ReplyHandler:
    """Register a handler for inbound messages nobody's yet (usable as a decorator)."""
    return _add(_unclaimed_handlers, handler)


def checks_sends(check: SendCheckFn) -> SendCheckFn:
    """Register a send-time check (usable as a decorator)."""
    return _add(_send_checks, check)


def identifies_senders(sender: SenderFn) -> SenderFn:
    """Register who a number belongs to (usable as a decorator)."""
    return _add(_senders, sender)


def listens(listener: Callable[[Message], None]) -> Callable[[Message], None]:
    """Register a listener to messages from known subjects (usable as a decorator)."""
    return _add(_listeners, listener)


def heard_from(message: Message) -> None:
    """Tell every listener that the message's subject wrote."""
    for listener in _listeners:
        listener(message)


def reply_handlers() -> list[ReplyHandler]:
    return list(_reply_handlers)


def unclaimed_handlers() -> list[ReplyHandler]:
    return list(_unclaimed_handlers)


def check_sends(messages: list[Message]) -> dict[int, SendCheck]:
    """Every registered check's say on each message, by id, combined: any cancel wins, the
    longest pause holds. Messages no check has a say on are left out."""
    combined: dict[int, SendCheck] = {}
    for check in _send_checks:
        for message_id, verdict in check(messages).items():
            combined[message_id] = _combine(combined.get(message_id), verdict)
    return combined


def _combine(first: SendCheck | None, second: SendCheck) -> SendCheck:
    if first is None:
        return second
    pauses = [day for day in (first.paused_until, second.paused_until) if day]
    return SendCheck(first.cancel or second.cancel, max(pauses, default=None))


def sender(contact: Contact | None) -> Sender:
    """The first registered answer for this number, or an unknown sender."""
    if contact is not None:
        for identify in _senders:
            found = identify(contact)
            if found is not None:
                return found
    return Sender()
