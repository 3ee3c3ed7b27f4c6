"""Celery tasks for lesion flags: thin wake-ups around the services."""

from celery import shared_task
from django.utils import timezone

from . import digest, escalation, questionnaire
from .alerts import alert_urgent_flag

__all__ = [
    "alert_urgent_flag",
    "close_expired_questionnaires",
    "escalate_overdue_flags",
    "send_daily_digests",
]


@shared_task
def escalate_overdue_flags() -> dict:
    return escalation.escalate_overdue(timezone.now())


@shared_task
def send_daily_digests() -> int:
    return digest.send_daily_digests(timezone.now())


@shared_task
def close_expired_questionnaires() -> int:
    return questionnaire.close_expired(timezone.now())
