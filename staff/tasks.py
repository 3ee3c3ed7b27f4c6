"""Celery tasks of the staff web: a thin wake-up around `import_runs.run`."""

from celery import shared_task
from django.db import DatabaseError

from . import import_runs


@shared_task(acks_late=True, autoretry_for=(DatabaseError,), retry_backoff=2, max_retries=5)
def run_patient_import(import_id: int) -> str:
    return import_runs.run(import_id)
