"""Celery tasks: thin wake-ups around the dispatch and inbound services.

Each may run twice, late or concurrently: the work they do is claimed in the
database, so a repeated wake-up sends nothing twice.
"""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import dispatch, inbound, reconcile
from .wakeups import send_messages

WAKE_UP_BATCH = 1000


@shared_task
def dispatch_due() -> int:
    """Fan the due messages out to the workers, `batch_size()` ids per task.

    A full wake-up batch means more are waiting: the task follows itself at
    once rather than leaving the rest for beat's next minute.
    """
    ids = dispatch.take_wake_ups(timezone.now(), WAKE_UP_BATCH)
    size = batch_size()
    for start in range(0, len(ids), size):
        send_messages.delay(ids[start : start + size])
    if len(ids) == WAKE_UP_BATCH:
        dispatch_due.apply_async(countdown=1)
    return len(ids)


def batch_size() -> int:
    """SMS_DISPATCH_BATCH, or fewer: a batch whose every request times out must still end
    within a third of the lease (requests go SMS_SEND_THREADS at a time), so that
    reconciliation never takes a row a live worker is still sending."""
    slowest = 3 * max(1, settings.TWILIO_TIMEOUT_SECONDS)
    rounds = max(1, settings.SMS_LEASE_SECONDS // slowest)
    return max(1, min(settings.SMS_DISPATCH_BATCH, rounds * settings.SMS_SEND_THREADS))


@shared_task
def reconcile_stale_messages() -> dict:
    return reconcile.reconcile_stale(timezone.now())


@shared_task
def route_unrouted_messages() -> int:
    return inbound.route_unrouted()
