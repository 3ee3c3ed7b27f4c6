"""Sending queued messages, safely, from any number of workers, a batch at a time.

1. Claim (`claim.claim_many`, one transaction for the batch): lock the
   messages and their contacts, check the rules; defer, give up, or mark
   `sending` with a lease and commit.
2. Send through the backend, several at once (SMS_SEND_THREADS threads, one
   HTTP connection pool per thread). The sender's rate slots are taken
   before the claim, so the claim's checks still hold when the messages
   leave; a last look under a lock on the batch's contacts, held until the
   provider has answered for all of them, makes a STOP handled meanwhile wait
   for this send or stop it (never a message after STOP is acknowledged),
   and keeps a send that could land after 21:00 for the morning.
3. Record the outcomes with a conditional update on (id, status, attempts),
   the sent ones in one statement: if the lease expired meanwhile and
   reconciliation took a row, ours is a no-op for it.

A worker killed between 2 and 3 leaves the rows `sending`; once their lease
expires, `reconcile.reconcile_stale` asks the provider whether they went
before any retry. Ambiguous provider errors (timeouts, 5xx) take the same
road.
"""

import logging
import math
import os
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from bulk_sql import writes

from . import circuit, delivery, policy
from .backends import INVALID_NUMBERS, UNSUBSCRIBED, TransportError, get_backend
from .claim import claim_many
from .models import Contact, Message
from .sender_rate import sender_key, take_slots

logger = logging.getLogger(__name__)
Status = Message.Status
SENT_FIELDS = ["status", "provider_sid", "sent_at", "error", "error_code", "lease_expires_at"]


# A queued message whose wake-up went out this long ago without effect is woken again
# (the wake-up was lost with a killed worker or a restarted broker). Whatever gives a
# message a new send_after (retry, hold, reconciliation) clears woken_at instead.
WAKE_AGAIN_AFTER = timedelta(minutes=2)


# pg_advisory_xact_lock's key for waking dispatchers (any number unused by other locks).
WAKERS_LOCK = 0x5EAD0001

# A message's place in line: when it was first due. Holding it for a provider outage
# and retrying it move its send_after, not its place (`first_due_at` keeps it), so the
# outbox resumes in the order its messages were due, not in the order they were held.
IN_LINE = Coalesce("first_due_at", "send_after")
KEEP_PLACE = {"first_due_at": IN_LINE}


@transaction.atomic
def take_wake_ups(now: datetime, limit: int = 1000) -> list[int]:
    """Due messages no dispatcher was woken for lately, in line (when they were first
    due, then by id); marks them woken.

    One waker at a time (beat, the sweep and a full batch's follow-up may all
    call at once): the second waits for the first to commit. Run side by side,
    a waker whose query began before the other committed locks the rows the
    other just woke (PostgreSQL locks an updated row before it re-checks it) and
    holds them to its own end; the claims those wake-ups started skip locked
    rows, and the messages waited WAKE_AGAIN_AFTER for nothing.
    """
    _one_waker_at_a_time()
    not_woken = Q(woken_at__isnull=True) | Q(woken_at__lt=now - WAKE_AGAIN_AFTER)
    ids = list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(not_woken, status=Status.QUEUED, send_after__lte=now)
        .order_by(IN_LINE, "pk")
        .values_list("pk", flat=True)[:limit]
    )
    Message.objects.filter(pk__in=ids).update(woken_at=now)
    return ids


def _one_waker_at_a_time() -> None:
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WAKERS_LOCK])


def send(message_id: int) -> str:
    """Claim, send and record one message; returns what happened."""
    return send_many([message_id])[message_id]


def send_many(ids: list[int]) -> dict[int, str]:
    """Claim, send and record these messages; returns what happened to each, by id."""
    outcomes = dict.fromkeys(ids, "not claimable")
    gate = circuit.gate()
    if gate.hold_until is not None:
        return outcomes | _hold_for_outage(ids, gate.hold_until)
    if gate.probe:  # the provider may be back: one message finds out, the rest wait
        ids, waiting = ids[:1], ids[1:]
        outcomes |= _hold_for_outage(waiting, timezone.now() + circuit.PROBE_WAIT)
    while ids:
        try:
            granted = take_slots(sender_key(), len(ids), max_wait=settings.SMS_LEASE_SECONDS / 3)
        except Exception as exc:  # the shared cache is down, or the sender stayed busy
            logger.warning("No sending slot for messages %s: %s", ids, exc)
            return outcomes | _wake_again(ids)
        batch, ids = ids[:granted], ids[granted:]
        outcomes |= send_claimed_many(claim_many(batch, timezone.now()))
    return outcomes


def send_claimed(message: Message) -> str:
    """Send a message `claim` marked `sending`, and record the outcome."""
    return send_claimed_many([message])[message.pk]


def send_claimed_many(messages: list[Message]) -> dict[int, str]:
    """Send messages `claim_many` marked `sending`, and record the outcomes, by id."""
    if not messages:
        return {}
    with transaction.atomic():
        going, outcomes = _last_look(messages, timezone.now())
        answers = _transmit(going)
    sent = []
    for message, answer in zip(going, answers, strict=True):
        if isinstance(answer, TransportError):
            _count_for_circuit(answer)
            outcomes[message.pk] = _record_failure(message, answer)
        else:
            sent.append((message, answer))
    if sent:
        circuit.record_success()
        outcomes |= _record_sent_many(sent)
    return outcomes


def _count_for_circuit(exc: TransportError) -> None:
    if exc.outage:
        circuit.record_failure()
    else:
        circuit.record_success()  # the provider answered: it is up


def _transmit(messages: list[Message]) -> list:
    """Each message's provider sid, or the TransportError it raised, in order."""
    if len(messages) == 1:
        return [_send_one(messages[0])]
    return list(_senders().map(_send_one, messages))


def _send_one(message: Message):
    try:
        return get_backend().send(message)
    except TransportError as exc:
        return exc
    except Exception as exc:  # a defect, not the provider: it may have gone, so look it up
        logger.exception("Sending message %s failed unexpectedly", message.pk)
        return TransportError(f"unexpected error: {exc}", ambiguous=True, outage=False)


@cache
def _senders() -> ThreadPoolExecutor:
    """This process's sending threads, made on first use (a forked child makes its own)."""
    return ThreadPoolExecutor(settings.SMS_SEND_THREADS, thread_name_prefix="sms-send")


os.register_at_fork(after_in_child=_senders.cache_clear)


def _wake_again(ids: list[int]) -> dict[int, str]:
    """No sending slot (nothing claimed): the next dispatch tick wakes the messages again."""
    Message.objects.filter(pk__in=ids, status=Status.QUEUED).update(
        woken_at=None, modified_on=timezone.now()
    )
    return dict.fromkeys(ids, "no sending slot")


def _last_look(messages: list[Message], now: datetime) -> tuple[list[Message], dict[int, str]]:
    """Lock the contacts until the transaction ends (after the provider's answers) and look
    once more: an opt-out that came in since the claim stops a message, and one that
    comes in now waits for this send. Returns the messages that may go, and what
    happened to the others."""
    ids = {message.contact_id for message in messages} - {None}
    contacts = Contact.objects.select_for_update(no_key=True).order_by("pk").in_bulk(ids)
    # The requests may take up to the client timeout each, a thread's share of the batch
    # one after another: they must still land before 21:00.
    rounds = math.ceil(len(messages) / settings.SMS_SEND_THREADS)
    landing = now + timedelta(seconds=settings.TWILIO_TIMEOUT_SECONDS * rounds)
    going, outcomes = [], {}
    for message in messages:
        contact = contacts.get(message.contact_id)
        stopped = _stopped(message, contact, landing) if contact else ""
        if stopped:
            outcomes[message.pk] = stopped
        else:
            going.append(message)
    return going, outcomes


def _stopped(message: Message, contact: Contact, landing: datetime) -> str:
    """Why the message may not go after all ("" when it may), recorded on its row."""
    refused = contact.refusal()
    if refused:
        _record(message, status=Status.UNDELIVERABLE, error=refused, lease_expires_at=None)
        return "undeliverable"
    allowed = policy.earliest_send(landing, contact.timezone, exempt=True).send_at
    if allowed > landing:
        _record(
            message,
            status=Status.QUEUED,
            attempts=message.attempts - 1,
            send_after=allowed,
            hold_reason="quiet_hours",
            woken_at=None,
            lease_expires_at=None,
        )
        return "held: quiet hours"
    return ""


def _hold_for_outage(ids: list[int], until: datetime) -> dict[int, str]:
    """The provider is down: the messages wait for the circuit, spending no attempt, and
    keep their place in line (all wait until the same moment)."""
    Message.objects.filter(pk__in=ids, status=Status.QUEUED, send_after__lt=until).update(
        **KEEP_PLACE,
        send_after=until,
        hold_reason="provider_outage",
        woken_at=None,
        modified_on=timezone.now(),
    )
    return dict.fromkeys(ids, "held: provider outage")


def _record_sent_many(sent: list[tuple[Message, str]]) -> dict[int, str]:
    """Record the provider's sids, in one statement unless a sid is already held
    (reconciliation's guess: `_record_sent` sorts that out, one by one)."""
    sids = [sid for _, sid in sent]
    held = set(Message.objects.filter(provider_sid__in=sids).values_list("provider_sid", flat=True))
    plain = [(message, sid) for message, sid in sent if sid not in held]
    outcomes = {message.pk: "sent" for message, _ in sent}
    for message, sid in sent:
        if sid in held:
            _record_sent(message, sid)
    try:
        with transaction.atomic():
            written = set(_write_sent(plain))
    except IntegrityError:  # a sid taken by reconciliation since we looked
        for message, sid in plain:
            _record_sent(message, sid)
        return outcomes
    for message, _ in plain:
        if message.pk not in written:
            logger.warning("Message %s changed hands before its outcome was recorded", message.pk)
    delivery.apply_early_statuses([sid for message, sid in plain if message.pk in written])
    return outcomes


def _write_sent(sent: list[tuple[Message, str]]) -> list[int]:
    now = timezone.now()
    for message, sid in sent:
        message.status, message.provider_sid, message.sent_at = Status.SENT, sid, now
        message.error = message.error_code = ""
        message.lease_expires_at = None
        message.modified_on = now
    rows = [message for message, _ in sent]
    return writes.update(
        rows, [*SENT_FIELDS, "modified_on"], match=["attempts"], where={"status": Status.SENDING}
    )


@transaction.atomic
def _record_sent(message: Message, sid: str) -> None:
    """Record the provider's sid; the provider's answer outranks any earlier guess.

    Reconciliation matches a lost response by number and text, so it can have
    given this very sid to another message with the same text. That message
    gives it back (with the delivery status it collected, which was ours) and
    is looked up again at the provider.
    """
    holder = (
        Message.objects.select_for_update().filter(provider_sid=sid).exclude(pk=message.pk).first()
    )
    status = Status.SENT
    if holder is not None:
        logger.warning(
            "Message %s held sid %s of message %s: looked up again", holder.pk, sid, message.pk
        )
        status = holder.status
        holder.save_fields(
            provider_sid=None, status=Status.SENDING, lease_expires_at=timezone.now()
        )
    if _record(
        message,
        status=status,
        provider_sid=sid,
        sent_at=timezone.now(),
        error="",
        error_code="",
        lease_expires_at=None,
    ):
        delivery.apply_early_status(sid)


def _record(message: Message, **fields) -> bool:
    """Write the outcome only if the row is still ours (same attempt, still sending)."""
    fields["modified_on"] = timezone.now()
    updated = Message.objects.filter(
        pk=message.pk, status=Status.SENDING, attempts=message.attempts
    ).update(**fields)
    if not updated:
        logger.warning("Message %s changed hands before its outcome was recorded", message.pk)
    return bool(updated)


def _record_failure(message: Message, exc: TransportError) -> str:
    if exc.ambiguous:
        # Maybe sent: never retry blind. Expire the lease now so reconciliation
        # looks the message up at the provider first.
        _record(message, lease_expires_at=timezone.now(), error=str(exc)[:300], error_code=exc.code)
        return "ambiguous"
    if exc.retryable:
        return _retry_later(message, exc)
    _give_up(message, exc)
    return "failed"


def _retry_later(message: Message, exc: TransportError) -> str:
    """Surely not sent (never reached the provider, 429, no sending slot): try again later.

    Such a try is not an attempt: it spends nothing of SMS_MAX_ATTEMPTS, so an
    outage never fails a message for good. Its useful life bounds the retries
    (it expires instead). The wait grows with the message's age, up to an hour;
    the message keeps its place in line.
    """
    now = timezone.now()
    _record(
        message,
        **KEEP_PLACE,
        status=Status.QUEUED,
        attempts=message.attempts - 1,
        send_after=now + backoff_for_age(now - message.created_on),
        woken_at=None,
        error=str(exc)[:300],
        error_code=exc.code,
        lease_expires_at=None,
    )
    return "retry"


def backoff_for_age(age: timedelta) -> timedelta:
    """Half the message's age, with jitter, between SMS_RETRY_BASE_SECONDS and an hour."""
    ceiling = min(max(age.total_seconds() / 2, settings.SMS_RETRY_BASE_SECONDS), 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


@transaction.atomic
def _give_up(message: Message, exc: TransportError) -> None:
    status = _mark_number(message.contact_id, exc.code) if message.contact_id else Status.FAILED
    _record(
        message, status=status, error=str(exc)[:300], error_code=exc.code, lease_expires_at=None
    )


def _mark_number(contact_id: int, code: str) -> str:
    """Record on the contact what a permanent error says about its number."""
    contact = Contact.objects.select_for_update().get(pk=contact_id)
    if code == UNSUBSCRIBED:
        contact.opted_out_at = contact.opted_out_at or timezone.now()
        contact.save(update_fields=["opted_out_at", "modified_on"])
        return Status.UNDELIVERABLE
    if code in INVALID_NUMBERS:
        contact.invalid_at = timezone.now()
        contact.invalid_reason = f"Twilio {code}: {INVALID_NUMBERS[code]}"
        contact.save(update_fields=["invalid_at", "invalid_reason", "modified_on"])
        return Status.UNDELIVERABLE
    return Status.FAILED
