"""Urgent alerts: an urgent flag reaches people at once.

One e-mail to the cohort's coordinators and, if `ONCALL_SMS_NUMBER` is set,
one staff SMS. May run twice or concurrently and still sends once: the SMS is
one outbox row under a unique key, the e-mail is claimed under the flag's row
lock by `urgent_alerted_at`, written in the same transaction as the send (a
refused e-mail rolls the claim back and the escalation tick tries again).
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications import outbox
from notifications.models import Message

from . import care_teams
from .models import Flag
from .staff_mail import flag_url, local_time, send

logger = logging.getLogger(__name__)

# At most this many lost alerts are caught up per tick: the rest wait a minute.
BATCH_SIZE = 200
# The safety net re-sends lost urgent alerts for flags due no longer ago than this.
ALERT_CATCH_UP = timedelta(days=7)


@shared_task(name="surveillance.tasks.alert_urgent_flag")
def alert_urgent_flag(flag_id: int) -> dict:
    """Tell the cohort's coordinators (and the on-call number) about an urgent flag."""
    return alert_urgent(flag_id)


def alert_urgent(flag_id: int) -> dict:
    """E-mail the cohort's coordinators about an urgent flag, and text the on-call number.

    Idempotent: the SMS is one outbox row under the key `flag:<id>:oncall`;
    the e-mail is claimed under the flag's row lock by `urgent_alerted_at`,
    written in the same transaction as the send.
    A resolved (or missing, or routine) flag alerts nobody.
    """
    result = {"flag": flag_id, "emailed": [], "sms": None, "skipped": ""}
    flag = Flag.objects.select_related("patient__cohort", "message").filter(pk=flag_id).first()
    if flag is None:
        result["skipped"] = "no such flag"
        return result
    if flag.urgency != Flag.Urgency.URGENT or flag.status == Flag.Status.RESOLVED:
        result["skipped"] = f"{flag.urgency} {flag.status} flag"
        return result

    # The SMS first, in its own transaction: a mail server that is down must not hold it up.
    if settings.ONCALL_SMS_NUMBER:
        with transaction.atomic():
            result["sms"] = _queue_oncall_sms(flag).pk

    try:
        with transaction.atomic():
            flag = (
                Flag.objects.select_for_update(of=("self",))
                .select_related("patient__cohort", "message")
                .get(pk=flag_id)
            )
            if flag.status == Flag.Status.RESOLVED:
                result["skipped"] = "resolved meanwhile"
            elif _alerted(flag):
                result["skipped"] = "already e-mailed"
            else:
                recipients = care_teams.coordinators(flag)
                _mark_alerted(flag)
                if recipients:
                    send(*_urgent_email(flag), recipients)
                else:
                    logger.error("Urgent flag #%s: nobody to e-mail (no coordinators)", flag.pk)
                result["emailed"] = [user.pk for user in recipients]
    except Flag.DoesNotExist:
        result["skipped"] = "no such flag"
    return result


def _queue_oncall_sms(flag: Flag) -> Message:
    key = f"flag:{flag.pk}:oncall"
    zone = care_teams.zone(flag)
    body = (
        f"Urgent skin report, flag #{flag.pk}, review by {local_time(flag.review_due_at, zone)}. "
        f"{flag_url(flag.pk)}"
    )
    Message.objects.bulk_create(
        [
            Message(
                direction=Message.Direction.OUTBOUND,
                kind=Message.Kind.STAFF_ALERT,
                body=body,
                to_number=settings.ONCALL_SMS_NUMBER,
                status=Message.Status.QUEUED,
                idempotency_key=key,
                send_after=flag.created_at,
                urgent=True,
            )
        ],
        ignore_conflicts=True,
    )
    message = Message.objects.get(idempotency_key=key)
    outbox.wake(message.pk)
    return message


def _alerted(flag: Flag) -> bool:
    return flag.urgent_alerted_at is not None


def _mark_alerted(flag: Flag) -> None:
    """The caller holds the flag's row lock: the mark and the e-mail go together."""
    flag.urgent_alerted_at = timezone.now()
    flag.save(update_fields=["urgent_alerted_at"])


def _urgent_email(flag: Flag) -> tuple[str, str]:
    due = local_time(flag.review_due_at, care_teams.zone(flag))
    subject = f"Urgent skin report, flag #{flag.pk}, review by {due}"
    body = (
        f"A patient's skin report was triaged as urgent (flag #{flag.pk}).\n"
        f"Please review it by {due} and consider an urgent visit.\n\n"
        f"{flag_url(flag.pk)}\n"
    )
    return subject, body


def urgent_flags_not_alerted(now: datetime) -> list[int]:
    """Urgent flags whose alert never went out (say, the broker lost the wake-up)."""
    return list(
        Flag.objects.filter(
            status__in=Flag.UNRESOLVED,
            urgency=Flag.Urgency.URGENT,
            urgent_alerted_at__isnull=True,
            review_due_at__gte=now - ALERT_CATCH_UP,
        )
        .order_by("review_due_at", "pk")
        .values_list("pk", flat=True)[:BATCH_SIZE]
    )
