"""Celery tasks for retention: a thin wake-up around the service."""

from celery import shared_task

from . import retention


@shared_task
def apply_retention() -> dict[str, int]:
    """Beat's retention run: idempotent, so running it often only finds less to do."""
    return retention.apply()
