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
  gets the claimed message and returns a `SendCheck`, or None for no opinion.
- the sender: who a number belongs to and what the care team's answers say
  (the subject of an inbound message, the site and phone in a HELP answer).

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
SendCheckFn = Callable[[Message], SendCheck | None]
SenderFn = Callable[[Contact], Sender | None]

_reply_handlers: list[ReplyHandler] = []
_unclaimed_handlers: list[ReplyHandler] = []
_send_checks: list[SendCheckFn] = []
_senders: list[SenderFn] = []


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


def reply_handlers() -> list[ReplyHandler]:
    return list(_reply_handlers)


def unclaimed_handlers() -> list[ReplyHandler]:
    return list(_unclaimed_handlers)


def check_send(message: Message) -> SendCheck:
    """Every registered check's say, combined: any cancel wins, the longest pause holds."""
    cancel, paused_until = "", None
    for check in _send_checks:
        verdict = check(message)
        if verdict is None:
            continue
        cancel = cancel or verdict.cancel
        if verdict.paused_until and (paused_until is None or verdict.paused_until > paused_until):
            paused_until = verdict.paused_until
    return SendCheck(cancel, paused_until)


def sender(contact: Contact | None) -> Sender:
    """The first registered answer for this number, or an unknown sender."""
    if contact is not None:
        for identify in _senders:
            found = identify(contact)
            if found is not None:
                return found
    return Sender()
