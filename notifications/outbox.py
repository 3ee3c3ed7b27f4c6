"""Writing outbound messages: rendered, keyed, and woken after commit."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import policy
from .models import Contact, Message
from .sms_templates import render
from .wakeups import send_message


def build(
    to: Contact,
    kind: str,
    key: str,
    *,
    subject=None,
    send_after: datetime | None = None,
    urgent: bool = False,
    is_reply: bool = False,
    time_critical: bool = False,
    expires_at: datetime | None = None,
    **context,
) -> Message:
    """An unsaved outbound message to `to`, in its language, about `subject`.

    It expires at the end of its kind's useful life (`policy.USEFUL_LIFE`), or
    at `expires_at` if that is sooner.
    """
    send_after = send_after or timezone.now()
    return Message(
        contact=to,
        subject=subject,
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        body=render(kind, to.language, **context),
        to_number=to.number,
        status=Message.Status.QUEUED,
        idempotency_key=key,
        send_after=send_after,
        expires_at=policy.expires_at(kind, send_after, until=expires_at),
        urgent=urgent,
        is_reply=is_reply,
        time_critical=time_critical,
    )


def queue_built(message: Message) -> Message:
    """Queue one built message (once per key, even under races); wake a dispatcher after commit."""
    Message.objects.bulk_create([message], ignore_conflicts=True)
    stored = Message.objects.get(idempotency_key=message.idempotency_key)
    wake(stored.pk)
    return stored


def queue(to: Contact, kind: str, key: str, **options) -> Message:
    return queue_built(build(to, kind, key, **options))


def wake(message_id: int) -> None:
    transaction.on_commit(lambda: send_message.delay(message_id))
