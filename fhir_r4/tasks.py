"""FHIR work done by Celery workers: bulk exports, and the removal of expired ones."""

from celery import shared_task

from . import bulk_export


@shared_task(acks_late=True)
def build_bulk_export(export_id: str) -> None:
    """Idempotent: a re-delivered task starts the run again; a finished export is left alone."""
    bulk_export.run(export_id)


@shared_task
def expire_bulk_exports() -> int:
    return bulk_export.expire()
