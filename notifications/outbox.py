"""Writing outbound messages: rendered, keyed, and woken after commit."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import policy
from .models import Contact, Message
from .sms_templates import render
from .wakeups import send_message


def build(to: Contact, kind: str, key: str, *, subject=None, **options) -> Message:
    """An unsaved outbound message to `to`, in its language, about `subject` (`fields`)."""
    message = Message(**fields(to.pk, to.number, to.language, kind, key, **options))
    message.contact, message.subject = to, subject
    return message


def fields(
    contact_id: int,
    number: str,
    language: str,
    kind: str,
    key: str,
    /,  # so that a template may use these names too (`context`)
    *,
    subject_type_id: int | None = None,
    subject_id: int | None = None,
    send_after: datetime | None = None,
    urgent: bool = False,
    is_reply: bool = False,
    time_critical: bool = False,
    expires_at: datetime | None = None,
    **context,
) -> dict:
    """An outbound message's values (the sweep inserts many as they are,
    `bulk_sql.writes.insert_rows`): to the contact's number, in its language.

    It expires at the end of its kind's useful life (`policy.USEFUL_LIFE`), or
    at `expires_at` if that is sooner.
    """
    send_after = send_after or timezone.now()
    return {
        "contact_id": contact_id,
        "subject_type_id": subject_type_id,
        "subject_id": subject_id,
        "direction": Message.Direction.OUTBOUND,
        "kind": kind,
        "body": render(kind, language, **context),
        "to_number": number,
        "status": Message.Status.QUEUED,
        "idempotency_key": key,
        "send_after": send_after,
        "expires_at": policy.expires_at(kind, send_after, until=expires_at),
        "urgent": urgent,
        "is_reply": is_reply,
        "time_critical": time_critical,
    }


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
