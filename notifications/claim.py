"""Claiming queued messages for sending: the rules checked under lock, in one transaction.

A batch of messages is locked (SKIP LOCKED: another worker's are skipped)
with their contacts (in id order, so two workers never wait on each other in
a circle; a number's daily budget cannot be spent twice). Each message is
then either given up (expired, the number refused, no longer wanted), held
back (quiet hours, the frequency cap, a pause: a new send_after), or marked
`sending` with a lease. The checks and the cap's history cost one query each
for the whole batch, not one per message.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Greatest

from bulk_sql import writes

from . import hooks, policy
from .models import Contact, Message

Status = Message.Status
SENDING_FIELDS = [
    "to_number",
    "status",
    "attempts",
    "attempt_started_at",
    "lease_expires_at",
    "hold_reason",
    "modified_on",
]


@transaction.atomic
def claim_many(ids: list[int], now: datetime) -> list[Message]:
    """Mark those of these messages that may go now `sending` (with a lease); returns them."""
    messages = list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, status=Status.QUEUED, send_after__lte=now)
        .order_by("pk")
    )
    live = [message for message in messages if not _expired(message, now)]
    contacts = _lock_contacts(live)
    checks = hooks.check_sends([m for m in live if m.contact_id is not None])
    capped = [m for m in live if _held_by_cap(m)]
    sent_at = _routine_sends(contacts, capped, now, batch=live)
    going = []
    # A visit reminder first: it spends the day's budget and the self-exam waits.
    for message in sorted(live, key=lambda m: not m.time_critical):
        contact = contacts.get(message.contact_id)
        if contact is None or _may_go(message, contact, checks.get(message.pk), sent_at, now):
            going.append(_start_sending(message, contact, now))
    writes.update(going, SENDING_FIELDS)
    return going


def claim(message_id: int, now: datetime) -> Message | None:
    """`claim_many` for one message: the message if it may go now, else None."""
    claimed = claim_many([message_id], now)
    return claimed[0] if claimed else None


def _expired(message: Message, now: datetime) -> bool:
    if message.expires_at is None or now < message.expires_at:
        return False
    reason = f"Not sent within its useful life (until {message.expires_at:%Y-%m-%d %H:%M} UTC)."
    message.save_fields(status=Status.EXPIRED, error=reason, send_after=None)
    return True


def _lock_contacts(messages: list[Message]) -> dict[int, Contact]:
    ids = {message.contact_id for message in messages if message.contact_id is not None}
    if not ids:
        return {}
    return {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def _may_go(
    message: Message,
    contact: Contact,
    check: hooks.SendCheck | None,
    sent_at: dict[int, list[datetime]],
    now: datetime,
) -> bool:
    """Whether the message goes now; if not, its row says why (given up or held)."""
    refused = contact.refusal()
    if refused:
        message.save_fields(status=Status.UNDELIVERABLE, error=refused, send_after=None)
        return False
    check = check or hooks.SendCheck()
    if check.cancel:
        message.save_fields(status=Status.CANCELLED, error=check.cancel[:300], send_after=None)
        return False
    decision = _decide(message, contact, now, check.paused_until, sent_at[contact.pk])
    if decision.send_at > now:
        # Held back: woken again when its new time comes, not before.
        message.save_fields(send_after=decision.send_at, hold_reason=decision.reason, woken_at=None)
        return False
    if message.counts_against_cap:
        # A second message to the same number in this batch sees this one as sent.
        sent_at[contact.pk].append(now)
    return True


def _start_sending(message: Message, contact: Contact | None, now: datetime) -> Message:
    if contact is not None:
        message.to_number = contact.number
    message.status = Status.SENDING
    message.attempts += 1
    message.attempt_started_at = now
    message.lease_expires_at = now + timedelta(seconds=settings.SMS_LEASE_SECONDS)
    message.hold_reason = ""
    message.modified_on = now
    return message


def decide(message: Message, contact: Contact, now: datetime, paused_until=None) -> policy.Decision:
    """When the rules let this message go (for a claim, the contact's row should be locked;
    a preview need not lock it)."""
    sent_at = _routine_sends({contact.pk: contact}, [message], now) if _held_by_cap(message) else {}
    return _decide(message, contact, now, paused_until, sent_at.get(contact.pk, []))


def _decide(
    message: Message,
    contact: Contact,
    now: datetime,
    paused_until,
    routine_sent_at: list[datetime],
) -> policy.Decision:
    return policy.earliest_send(
        now,
        contact.timezone,
        routine_sent_at=list(routine_sent_at) if _held_by_cap(message) else [],
        cap=policy.Cap(settings.SMS_DAILY_CAP, settings.SMS_WEEKLY_CAP),
        exempt=not message.counts_against_cap,
        paused_until=paused_until if message.kind != "reply" else None,
    )


def _held_by_cap(message: Message) -> bool:
    return (
        message.contact_id is not None and message.counts_against_cap and not message.time_critical
    )


def _goes_at(now: datetime) -> Greatest:
    """When a queued message goes: its send_after, or now if that has passed."""
    return Greatest("send_after", Value(now))


def _routine_sends(
    contacts: dict[int, Contact], messages: list[Message], now: datetime, batch=()
) -> dict[int, list[datetime]]:
    """When each number's routine SMS of the past week went, or started to go, or will.

    A message another worker is sending right now (`sending`, not yet
    `sent_at`) counts from when its attempt started: otherwise two workers
    could each pass the cap between one's claim and its record. A visit
    reminder (time-critical: never held by the cap) queued to go within a day
    counts from when it will go, so the self-exam reminder is the one that
    waits, not two routine SMS in a day. One query, so one snapshot: asked as
    two, a message recorded `sent` between them was in neither (seen at scale:
    two reminders to a shared number at once). The messages of `batch` (being
    claimed now) are left out: the claim counts those it lets go.
    """
    sent_at: dict[int, list[datetime]] = defaultdict(list)
    numbers = {message.contact_id for message in messages} & contacts.keys()
    if not numbers:
        return sent_at
    since = now - policy.WEEK
    went = Q(sent_at__gt=since) | Q(status=Status.SENDING, attempt_started_at__gt=since)
    will_go = Q(status=Status.QUEUED, time_critical=True, send_after__lte=now + policy.DAY)
    rows = (
        Message.objects.filter(
            went | will_go,
            contact__in=numbers,
            direction=Message.Direction.OUTBOUND,
            urgent=False,
            is_reply=False,
        )
        .exclude(pk__in=[message.pk for message in (*messages, *batch)])
        .annotate(moment=Coalesce("sent_at", "attempt_started_at", _goes_at(now)))
        .values_list("contact_id", "moment")
    )
    for contact_id, moment in rows:
        sent_at[contact_id].append(moment)
    return sent_at
