"""Writing outbound messages: rendered, keyed, and woken after commit."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import Message
from .sms_templates import render


def build(
    patient,
    kind: str,
    key: str,
    *,
    send_after: datetime | None = None,
    urgent: bool = False,
    is_reply: bool = False,
    **context,
) -> Message:
    """An unsaved outbound message to `patient`, in their language."""
    body = render(kind, patient.language, site=patient.cohort.site, **context)
    return Message(
        patient=patient,
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        body=body,
        to_number=patient.phone,
        status=Message.Status.QUEUED,
        idempotency_key=key,
        send_after=send_after or timezone.now(),
        urgent=urgent,
        is_reply=is_reply,
    )


def queue(patient, kind: str, key: str, **options) -> Message:
    """Queue one message (once per key, even under races) and wake a dispatcher after commit."""
    Message.objects.bulk_create([build(patient, kind, key, **options)], ignore_conflicts=True)
    message = Message.objects.get(idempotency_key=key)
    wake(message.pk)
    return message


def wake(message_id: int) -> None:
    from .tasks import send_message

    transaction.on_commit(lambda: send_message.delay(message_id))
