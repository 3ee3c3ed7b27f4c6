"""A cohort's FHIR Bulk Data export: NDJSON files, one per resource type, built by a worker.

The flow is the Bulk Data Access `Group/{id}/$export` one: a kick-off
request creates a `BulkExport` and queues `run` (tasks.build_bulk_export);
the client polls the status URL (202 with X-Progress, then 200 with the
manifest) and fetches each file.

`run` streams: it walks the cohort's patients in chunks by primary key,
builds each chunk's resources and appends them to the files, so memory holds
one chunk, never the cohort. Each run writes into its own directory, named
by its run token: a re-delivered task (a worker died) starts a new run and
the old one's files are removed; a run that finds its token replaced, or the
export cancelled, stops and removes its own files.
"""

import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from cohorts.models import Patient

from . import patient_data, record
from .lesion_questionnaire import questionnaire
from .models import BulkExport
from .resource_json import ndjson_line, validated

logger = logging.getLogger(__name__)

TYPES = (
    "Patient",
    "Condition",
    "Procedure",
    "Observation",
    "RiskAssessment",
    "CarePlan",
    "Appointment",
    "Flag",
    "QuestionnaireResponse",
    "Questionnaire",
    "Media",
    "Communication",
)
Status = BulkExport.Status
LIVE = (Status.ACCEPTED, Status.RUNNING)


def export_dir(export: BulkExport) -> Path:
    return Path(settings.FHIR_EXPORT_DIR) / str(export.pk)


def file_path(export: BulkExport, kind: str) -> Path:
    return export_dir(export) / str(export.run) / f"{kind}.ndjson"


def create(cohort, user, request_url: str, types: list[str], include_bodies: bool) -> BulkExport:
    """Record the request (the caller queues `tasks.build_bulk_export` once it is committed)."""
    return BulkExport.objects.create(
        cohort=cohort,
        requested_by=user,
        request_url=request_url[:500],
        types=types,
        include_bodies=include_bodies,
        patients_total=Patient.objects.filter(cohort=cohort).count(),
    )


class _Files:
    """The run's NDJSON files, opened when their first line comes."""

    def __init__(self, directory: Path, wanted: set[str]):
        self.directory, self.wanted = directory, wanted
        self.handles, self.counts = {}, {}

    def write(self, resource: dict) -> None:
        """Validate the resource (an invalid one fails the export: never a bad line) and add it."""
        kind = resource["resourceType"]
        if kind not in self.wanted:
            return
        validated(resource)
        if kind not in self.handles:
            self.handles[kind] = open(self.directory / f"{kind}.ndjson", "w", encoding="utf-8")
            self.counts[kind] = 0
        self.handles[kind].write(ndjson_line(resource) + "\n")
        self.counts[kind] += 1

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def run(export_id: str, chunk_size: int = 500) -> None:
    """Build the export's files; a no-op when it is no longer wanted (idempotent)."""
    token = uuid.uuid4()
    claimed = BulkExport.objects.filter(pk=export_id, status__in=LIVE).update(
        status=Status.RUNNING, run=token, transaction_time=timezone.now(), patients_done=0
    )
    if not claimed:
        return
    export = BulkExport.objects.get(pk=export_id)
    shutil.rmtree(export_dir(export), ignore_errors=True)  # a dead run's files
    directory = export_dir(export) / str(token)
    directory.mkdir(parents=True)
    files = _Files(directory, set(export.types or TYPES))
    try:
        finished = _write(export, files, chunk_size)
    except Exception as exc:
        files.close()
        logger.exception("FHIR bulk export %s failed", export_id)
        _mine(export).update(
            status=Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        shutil.rmtree(directory, ignore_errors=True)
        raise
    files.close()
    if not finished or not _complete(export, files.counts):
        shutil.rmtree(directory, ignore_errors=True)


def _mine(export: BulkExport):
    return BulkExport.objects.filter(pk=export.pk, run=export.run, status=Status.RUNNING)


def _write(export: BulkExport, files: _Files, chunk_size: int) -> bool:
    """Append every patient's resources; False when the run was cancelled or replaced."""
    patients = Patient.objects.filter(cohort=export.cohort).order_by("pk")
    last, done = 0, 0
    while chunk := list(patients.filter(pk__gt=last).values_list("pk", flat=True)[:chunk_size]):
        for data in patient_data.load(chunk):
            for resource in record.resources(data, export.include_bodies):
                files.write(resource)
        last, done = chunk[-1], done + len(chunk)
        if not _mine(export).update(patients_done=done, counts=files.counts):
            return False
    if files.counts.get("QuestionnaireResponse"):
        files.write(questionnaire())
    return True


def _complete(export: BulkExport, counts: dict) -> bool:
    finished = timezone.now()
    expires = finished + timedelta(hours=settings.FHIR_EXPORT_TTL_HOURS)
    return bool(
        _mine(export).update(
            status=Status.COMPLETE, counts=counts, finished_at=finished, expires_at=expires
        )
    )


def manifest(export: BulkExport) -> dict:
    """The Bulk Data completion manifest: each file's type, URL and resource count."""
    base = f"{settings.PUBLIC_BASE_URL}{record.BASE_PATH}bulk-files/{export.pk}/"
    return {
        "transactionTime": export.transaction_time.isoformat(),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": f"{base}{kind}.ndjson", "count": export.counts[kind]}
            for kind in TYPES
            if kind in export.counts
        ],
        "error": [],
    }


def cancel(export: BulkExport) -> None:
    """Stop a run (it notices at its next chunk) or delete a finished export's files."""
    BulkExport.objects.filter(pk=export.pk).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    if export.status not in LIVE:
        shutil.rmtree(export_dir(export), ignore_errors=True)


def expire(now=None) -> int:
    """Delete the files of exports past their expiry (and of failed runs); how many."""
    now = now or timezone.now()
    expired = BulkExport.objects.filter(status=Status.COMPLETE, expires_at__lte=now)
    count = 0
    for export in expired:
        shutil.rmtree(export_dir(export), ignore_errors=True)
        count += BulkExport.objects.filter(pk=export.pk, status=Status.COMPLETE).update(
            status=Status.EXPIRED
        )
    return count
