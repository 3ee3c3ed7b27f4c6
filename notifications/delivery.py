"""Delivery status from Twilio's callbacks, applied forward-only and never lost."""

from django.db import transaction
from django.utils import timezone

from .backends import INVALID_NUMBERS, UNSUBSCRIBED
from .models import Contact, EarlyStatus, Message

# Delivery error codes that mean the number cannot take SMS.
UNREACHABLE_NUMBERS = {"30005": "unknown number", "30006": "landline or unreachable carrier"}


@transaction.atomic
def record_status(sid: str, status: str, error_code: str = "") -> None:
    """Move a message forward only: a late "sent" never undoes "delivered"."""
    message = Message.objects.select_for_update().filter(provider_sid=sid).first()
    if message is None:
        _keep_early(sid, status, error_code)
        return
    if message.direction != Message.Direction.OUTBOUND:
        return  # a callback naming a message we received: nothing to move
    if Message.PROGRESS[status] <= Message.PROGRESS[message.status]:
        return
    message.status, message.error_code = status, error_code or message.error_code
    if status == Message.Status.DELIVERED:
        message.delivered_at = timezone.now()
    message.save(update_fields=["status", "error_code", "delivered_at", "modified_on"])
    if message.contact_id and error_code:
        _flag_number(message.contact_id, error_code)


# A message the provider may have accepted though we never learnt its sid.
_SID_UNKNOWN = (Message.Status.QUEUED, Message.Status.SENDING, Message.Status.FAILED)


def claim_sid(message_id: int, sid: str) -> bool:
    """Twilio's callback names our message (its URL carries our id): the sid is that message's.

    This is how a message whose send response was lost (a timeout, a worker
    killed between the send and the record) is known: whether it is still
    `sending`, queued again for a retry, or given up as `failed`, the provider
    accepted it, so it is `sent` and never sent again. The caller holds a
    transaction. Returns whether the sid was given to the message.
    """
    message = (
        Message.objects.select_for_update()
        .filter(
            pk=message_id,
            direction=Message.Direction.OUTBOUND,
            provider_sid__isnull=True,
            status__in=_SID_UNKNOWN,
            attempts__gt=0,
        )
        .first()
    )
    if message is None or Message.objects.filter(provider_sid=sid).exists():
        return False
    message.status, message.provider_sid = Message.Status.SENT, sid
    message.sent_at = message.attempt_started_at or timezone.now()
    message.lease_expires_at, message.send_after = None, None
    message.save(
        update_fields=[
            "status", "provider_sid", "sent_at", "lease_expires_at", "send_after", "modified_on"
        ]
    )  # fmt: skip
    apply_early_status(sid)
    return True


def _keep_early(sid: str, status: str, error_code: str) -> None:
    # Two callbacks for one sid may race: insert-or-nothing, then move forward under a lock.
    EarlyStatus.objects.bulk_create(
        [EarlyStatus(provider_sid=sid, status=status, error_code=error_code)],
        ignore_conflicts=True,
    )
    early = EarlyStatus.objects.select_for_update().get(provider_sid=sid)
    if Message.PROGRESS[status] > Message.PROGRESS[early.status]:
        early.status, early.error_code = status, error_code
        early.save()


def apply_early_status(sid: str) -> None:
    """Called once a message's sid is stored: replay a callback that came first."""
    early = EarlyStatus.objects.filter(provider_sid=sid).first()
    if early is not None:
        record_status(sid, early.status, early.error_code)
        early.delete()


def apply_early_statuses(sids: list[str]) -> None:
    """`apply_early_status` for many sids: one query when no callback came first."""
    early = EarlyStatus.objects.filter(provider_sid__in=sids).values_list("provider_sid", flat=True)
    for sid in list(early):
        apply_early_status(sid)


def _flag_number(contact_id: int, code: str) -> None:
    if code == UNSUBSCRIBED:
        Contact.objects.filter(pk=contact_id, opted_out_at__isnull=True).update(
            opted_out_at=timezone.now()
        )
    reason = INVALID_NUMBERS.get(code) or UNREACHABLE_NUMBERS.get(code)
    if reason:
        Contact.objects.filter(pk=contact_id).update(
            invalid_at=timezone.now(), invalid_reason=f"Twilio {code}: {reason}"
        )
