"""Settling messages whose sender vanished: `sending` rows whose lease expired.

A worker killed between sending and recording, or a provider that timed out
(it may have sent), leaves a message `sending`. Once its lease expires, the
provider is asked whether it went (by number and text, since the attempt
began) before any retry: found, it is `sent` with the provider's sid; not
found, it is queued again with a backoff, or failed after SMS_MAX_ATTEMPTS.
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from . import delivery
from .backends import TransportError, get_backend
from .models import Message

logger = logging.getLogger(__name__)
Status = Message.Status


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
        message.save_fields(lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS))
        return "unknown"
    taken = set(
        Message.objects.filter(provider_sid__in=sids).values_list("provider_sid", flat=True)
    )
    sid = next((sid for sid in sids if sid not in taken), None)
    if sid:
        message.save_fields(
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
        message.save_fields(
            status=Status.FAILED,
            lease_expires_at=None,
            error=f"Gave up after {message.attempts} attempts: {message.error}"[:300],
        )
        return "failed"
    message.save_fields(
        status=Status.QUEUED,
        send_after=now + backoff(message.attempts),
        woken_at=None,
        lease_expires_at=None,
    )
    return "requeued"


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 30 s, 1 min, 2 min ... capped at an hour."""
    ceiling = min(settings.SMS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
