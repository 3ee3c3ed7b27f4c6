"""Celery tasks for lesion flags: thin wake-ups around the services."""

from celery import shared_task
from django.utils import timezone

from . import escalation, questionnaire


@shared_task
def alert_urgent_flag(flag_id: int) -> dict:
    """Tell the cohort's coordinators (and the on-call number) about an urgent flag."""
    return escalation.alert_urgent(flag_id)


@shared_task
def escalate_overdue_flags() -> dict:
    return escalation.escalate_overdue(timezone.now())


@shared_task
def send_daily_digests() -> int:
    return escalation.send_daily_digests(timezone.now())


@shared_task
def close_expired_questionnaires() -> int:
    return questionnaire.close_expired(timezone.now())
