"""Sending one queued message, safely, from any number of workers.

1. Claim (one transaction): lock the message (SKIP LOCKED) and its contact
   (so two workers cannot both spend the number's daily budget), check
   consent, opt-out, the number, the send-time checks the apps above
   registered (still wanted? paused?), quiet hours and the frequency cap.
   Either defer it (new send_after), give up (undeliverable, cancelled), or
   mark it `sending` with a lease and commit.
2. Send through the backend. The sender's rate slot is taken before the
   claim, so the claim's checks still hold when the message leaves; a last
   look under a lock on the contact, held until the provider answers, makes
   a STOP handled meanwhile wait for this send or stop it (never a message
   after STOP is acknowledged), and keeps a send that could land after
   21:00 for the morning.
3. Record the outcome with a conditional update on (id, status, attempts):
   if the lease expired meanwhile and reconciliation took the row, ours is
   a no-op.

A worker killed between 2 and 3 leaves the row `sending`; once its lease
expires, `reconcile_stale` asks the provider whether it went out before any
retry. Ambiguous provider errors (timeouts, 5xx) take the same road.
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import circuit, delivery, hooks, policy
from .backends import INVALID_NUMBERS, UNSUBSCRIBED, TransportError, get_backend
from .models import Contact, Message
from .sender_rate import sender_key, wait_for_slot

logger = logging.getLogger(__name__)
Status = Message.Status


# A queued message whose wake-up went out this long ago without effect is woken again
# (the wake-up was lost with a killed worker or a restarted broker). Whatever gives a
# message a new send_after (retry, hold, reconciliation) clears woken_at instead.
WAKE_AGAIN_AFTER = timedelta(minutes=2)


@transaction.atomic
def take_wake_ups(now: datetime, limit: int = 1000) -> list[int]:
    """Due messages no dispatcher was woken for lately; marks them woken."""
    not_woken = Q(woken_at__isnull=True) | Q(woken_at__lt=now - WAKE_AGAIN_AFTER)
    ids = list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(not_woken, status=Status.QUEUED, send_after__lte=now)
        .order_by("send_after")
        .values_list("pk", flat=True)[:limit]
    )
    Message.objects.filter(pk__in=ids).update(woken_at=now)
    return ids


def send(message_id: int) -> str:
    """Claim, send and record one message; returns what happened."""
    held_until = circuit.hold_until()
    if held_until is not None:
        return _hold_for_outage(message_id, held_until)
    try:
        wait_for_slot(sender_key(), max_wait=settings.SMS_LEASE_SECONDS / 3)
    except Exception as exc:  # the shared cache is down, or the sender stayed busy
        logger.warning("No sending slot for message %s: %s", message_id, exc)
        return _wake_again(message_id)
    message = claim(message_id, timezone.now())
    if message is None:
        return "not claimable"
    return send_claimed(message)


def send_claimed(message: Message) -> str:
    """Send a message `claim` marked `sending`, and record the outcome."""
    try:
        with transaction.atomic():
            stopped = _last_look(message, timezone.now())
            if stopped:
                return stopped
            sid = get_backend().send(message)
    except TransportError as exc:
        if exc.outage:
            circuit.record_failure()
        else:
            circuit.record_success()  # the provider answered: it is up
        return _record_failure(message, exc)
    circuit.record_success()
    _record_sent(message, sid)
    return "sent"


def _wake_again(message_id: int) -> str:
    """No sending slot (nothing claimed): the next dispatch tick wakes the message again."""
    Message.objects.filter(pk=message_id, status=Status.QUEUED).update(
        woken_at=None, modified_on=timezone.now()
    )
    return "no sending slot"


def _last_look(message: Message, now: datetime) -> str:
    """Lock the contact until the transaction ends (after the provider's answer) and look
    once more: an opt-out that came in since the claim stops the message, and one that
    comes in now waits for this send. Empty when the message may go."""
    if message.contact_id is None:
        return ""
    contact = Contact.objects.select_for_update(no_key=True).get(pk=message.contact_id)
    refused = contact.refusal()
    if refused:
        _record(message, status=Status.UNDELIVERABLE, error=refused, lease_expires_at=None)
        return "undeliverable"
    # The request may take up to the client timeout: it must still land before 21:00.
    landing = now + timedelta(seconds=settings.TWILIO_TIMEOUT_SECONDS)
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


def _hold_for_outage(message_id: int, until: datetime) -> str:
    """The provider is down: the message waits for the circuit, spending no attempt."""
    Message.objects.filter(pk=message_id, status=Status.QUEUED, send_after__lt=until).update(
        send_after=until, hold_reason="provider_outage", woken_at=None, modified_on=timezone.now()
    )
    return "held: provider outage"


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
        _save(holder, provider_sid=None, status=Status.SENDING, lease_expires_at=timezone.now())
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


@transaction.atomic
def claim(message_id: int, now: datetime) -> Message | None:
    message = (
        Message.objects.select_for_update(skip_locked=True)
        .filter(pk=message_id, status=Status.QUEUED, send_after__lte=now)
        .first()
    )
    if message is None:
        return None
    if message.expires_at is not None and now >= message.expires_at:
        reason = f"Not sent within its useful life (until {message.expires_at:%Y-%m-%d %H:%M} UTC)."
        _save(message, status=Status.EXPIRED, error=reason, send_after=None)
        return None
    if message.contact_id is None:
        # A staff alert (the on-call number): no consent, cap or quiet hours.
        return _start_sending(message, now)
    contact = Contact.objects.select_for_update().get(pk=message.contact_id)
    refused = contact.refusal()
    if refused:
        _save(message, status=Status.UNDELIVERABLE, error=refused, send_after=None)
        return None
    check = hooks.check_send(message)
    if check.cancel:
        _save(message, status=Status.CANCELLED, error=check.cancel[:300], send_after=None)
        return None
    decision = decide(message, contact, now, check.paused_until)
    if decision.send_at > now:
        # Held back: woken again when its new time comes, not before.
        _save(message, send_after=decision.send_at, hold_reason=decision.reason, woken_at=None)
        return None
    message.to_number = contact.number
    return _start_sending(message, now)


def _start_sending(message: Message, now: datetime) -> Message:
    _save(
        message,
        to_number=message.to_number,
        status=Status.SENDING,
        attempts=message.attempts + 1,
        attempt_started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS),
        hold_reason="",
    )
    return message


def decide(message: Message, contact: Contact, now: datetime, paused_until=None) -> policy.Decision:
    """When the rules let this message go (the contact's row should be locked)."""
    held_by_cap = message.counts_against_cap and not message.time_critical
    sent_at = _routine_sends(contact, message, now) if held_by_cap else []
    return policy.earliest_send(
        now,
        contact.timezone,
        routine_sent_at=sent_at,
        cap=policy.Cap(settings.SMS_DAILY_CAP, settings.SMS_WEEKLY_CAP),
        exempt=not message.counts_against_cap,
        paused_until=paused_until if message.kind != "reply" else None,
    )


def _routine_sends(contact: Contact, message: Message, now: datetime) -> list[datetime]:
    """When the number's routine SMS of the past week went, or started to go.

    A message another worker is sending right now (`sending`, not yet
    `sent_at`) counts from when its attempt started: otherwise two workers
    could each pass the cap between one's claim and its record. One query, so
    one snapshot: asked as two, a message recorded `sent` between them was in
    neither (seen at scale: two reminders to a shared number at once).
    """
    since = now - policy.WEEK
    routine = contact.messages.filter(
        direction=Message.Direction.OUTBOUND, urgent=False, is_reply=False
    ).exclude(pk=message.pk)
    went = Q(sent_at__gt=since) | Q(status=Status.SENDING, attempt_started_at__gt=since)
    return list(
        routine.filter(went)
        .annotate(moment=Coalesce("sent_at", "attempt_started_at"))
        .values_list("moment", flat=True)
    )


def _save(message: Message, **fields) -> None:
    for name, value in fields.items():
        setattr(message, name, value)
    message.save(update_fields=[*fields, "modified_on"])


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
    (it expires instead). The wait grows with the message's age, up to an hour.
    """
    now = timezone.now()
    _record(
        message,
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


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 30 s, 1 min, 2 min ... capped at an hour."""
    ceiling = min(settings.SMS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
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


def reconcile_stale(now: datetime, limit: int = 200) -> dict:
    """Settle `sending` rows whose lease expired: sent at the provider, or queue again."""
    counts = {"found_sent": 0, "requeued": 0, "failed": 0, "unknown": 0, "errors": 0}
    stale = Message.objects.filter(status=Status.SENDING, lease_expires_at__lte=now)
    for message_id in stale.order_by("lease_expires_at").values_list("pk", flat=True)[:limit]:
        try:
            counts[_reconcile(message_id, now)] += 1
        except Exception:
            # One bad row must not stop the others from being settled: push it back.
            logger.exception("Reconciling message %s failed; retrying it later", message_id)
            Message.objects.filter(pk=message_id, status=Status.SENDING).update(
                lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS)
            )
            counts["errors"] += 1
    return counts


@transaction.atomic
def _reconcile(message_id: int, now: datetime) -> str:
    message = (
        Message.objects.select_for_update(skip_locked=True)
        .filter(pk=message_id, status=Status.SENDING, lease_expires_at__lte=now)
        .first()
    )
    if message is None:
        return "unknown"
    since = message.attempt_started_at - timedelta(minutes=1)
    try:
        sids = get_backend().find_sent(message, since)
    except TransportError:
        _save(message, lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS))
        return "unknown"
    taken = set(
        Message.objects.filter(provider_sid__in=sids).values_list("provider_sid", flat=True)
    )
    sid = next((sid for sid in sids if sid not in taken), None)
    if sid:
        _save(
            message,
            status=Status.SENT,
            provider_sid=sid,
            sent_at=message.attempt_started_at,
            lease_expires_at=None,
            error="",
            error_code="",
        )
        delivery.apply_early_status(sid)
        return "found_sent"
    if message.attempts >= settings.SMS_MAX_ATTEMPTS:
        _save(
            message,
            status=Status.FAILED,
            lease_expires_at=None,
            error=f"Gave up after {message.attempts} attempts: {message.error}"[:300],
        )
        return "failed"
    _save(
        message,
        status=Status.QUEUED,
        send_after=now + backoff(message.attempts),
        woken_at=None,
        lease_expires_at=None,
    )
    return "requeued"
