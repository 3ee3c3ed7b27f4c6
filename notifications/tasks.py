"""Celery tasks: thin wake-ups around the dispatch and inbound services.

Each may run twice, late or concurrently: the work they do is claimed in the
database, so a repeated wake-up sends nothing twice.
"""

from celery import shared_task
from django.utils import timezone

from . import dispatch, inbound
from .wakeups import send_message

WAKE_UP_BATCH = 1000


@shared_task
def dispatch_due() -> int:
    """Fan the due messages out to the workers, one task per message.

    A full batch means more are waiting: the task follows itself at once
    rather than leaving the rest for beat's next minute.
    """
    ids = dispatch.take_wake_ups(timezone.now(), WAKE_UP_BATCH)
    for message_id in ids:
        send_message.delay(message_id)
    if len(ids) == WAKE_UP_BATCH:
        dispatch_due.apply_async(countdown=1)
    return len(ids)


@shared_task
def reconcile_stale_messages() -> dict:
    return dispatch.reconcile_stale(timezone.now())


@shared_task
def route_unrouted_messages() -> int:
    return inbound.route_unrouted()
