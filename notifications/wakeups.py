"""The wake-up for one queued message: a Celery task carrying only the row's id.

Its own module so that writing a message (`outbox`) can wake a dispatcher
without importing the other tasks (which import inbound routing, which writes
messages).

A database that restarts under the task (an error before or after the claim)
has the wake-up tried again within seconds rather than at the next re-wake
(`dispatch.WAKE_AGAIN_AFTER`): the claim makes a repeated try harmless.
"""

from celery import shared_task
from django.db import DatabaseError

from . import dispatch


@shared_task(
    name="notifications.tasks.send_message",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def send_message(message_id: int) -> str:
    return dispatch.send(message_id)
