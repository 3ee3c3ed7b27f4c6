"""The wake-ups for queued messages: Celery tasks carrying only the rows' ids.

Its own module so that writing a message (`outbox`) can wake a dispatcher
without importing the other tasks (which import inbound routing, which writes
messages).

A database that restarts under the task (an error before or after the claim)
has the wake-up tried again within seconds rather than at the next re-wake
(`dispatch.WAKE_AGAIN_AFTER`): the claim makes a repeated try harmless.
"""

from collections import Counter

from celery import shared_task
from django.db import DatabaseError

from . import dispatch

RETRY_ON_DATABASE_ERRORS = {
    "acks_late": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="notifications.tasks.send_message", **RETRY_ON_DATABASE_ERRORS)
def send_message(message_id: int) -> str:
    return dispatch.send(message_id)


@shared_task(name="notifications.tasks.send_messages", **RETRY_ON_DATABASE_ERRORS)
def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch; returns how many of each outcome."""
    return dict(Counter(dispatch.send_many(message_ids).values()))
