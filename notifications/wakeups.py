"""The wake-up for one queued message: a Celery task carrying only the row's id.

Its own module so that writing a message (`outbox`) can wake a dispatcher
without importing the other tasks (which import inbound routing, which writes
messages).
"""

from celery import shared_task

from . import dispatch


@shared_task(name="notifications.tasks.send_message", acks_late=True)
def send_message(message_id: int) -> str:
    return dispatch.send(message_id)
