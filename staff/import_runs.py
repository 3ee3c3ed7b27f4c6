"""Running a confirmed browser import: validate again, enrol, record how far it got.

The file is validated again when the task runs (a patient may have been
enrolled since the preview). Enrolment is one transaction, all or nothing, as
the command's; its progress goes to the cache after each batch, since the
transaction hides it from the page until the end (with the cache down, the
import goes on and the page shows no progress). A worker that dies midway
leaves nothing enrolled and the import `running`: the task is acknowledged
late, so another worker runs it again.

A CSV import is audited however it ends (who, the file's SHA-256, the rows
accepted and refused), as the command's; one that enrolled says, as the
command does, which time zones its patients were given.
"""

import io

from django.db import IntegrityError
from django.utils import timezone

from audit import trail
from cohorts import patient_import
from fhir_r4 import enrolment
from fhir_r4.problems import BundleRefused
from shared_cache import get, put

from .models import PatientImport

BATCH = 200
PROGRESS_KEEP = 3600
Status = PatientImport.Status


def run(import_id: int) -> str:
    job = (
        PatientImport.objects.filter(pk=import_id, status__in=[Status.QUEUED, Status.RUNNING])
        .select_related("cohort", "user")
        .first()
    )
    if job is None:
        return "not runnable"
    PatientImport.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    if job.kind == PatientImport.Kind.FHIR:
        return _run_bundle(job)
    rows = patient_import.parse(io.StringIO(job.text))
    patient_import.validate(rows, job.cohort, job.user)
    invalid = [row for row in rows if row.errors]
    refused = [f"row {row.line}: {error}" for row in invalid for error in row.errors]
    if invalid and not job.valid_only:
        problem = f"{len(invalid)} of {len(rows)} rows are invalid now; nothing was imported."
        _audit(job, [], len(invalid), failed="rows invalid now")
        return _finish(job, Status.FAILED, refused=refused, problem=problem)
    valid = [row for row in rows if not row.errors]
    put(job.progress_key, 0, PROGRESS_KEEP)
    try:
        patients = patient_import.enrol(valid, BATCH, job.user, progress=_counted(job, len(valid)))
    except IntegrityError as exc:
        problem = f"The database refused the import, nothing was imported: {exc}"
        _audit(job, [], len(invalid), failed="the database refused it")
        return _finish(job, Status.FAILED, refused=refused, problem=problem)
    _audit(job, patients, len(invalid))
    summary = _fitted(patient_import.zones_summary(valid, patients, job.cohort))
    return _finish(job, Status.DONE, refused=refused, accepted=len(patients), summary=summary)


def _audit(job: PatientImport, patients: list, refused: int, failed: str = "") -> None:
    request = trail.system_request(job.user, f"staff import {job.pk}")
    patient_import.audit(request, job.digest, job.cohort, patients, refused, failed)


def _fitted(text: str) -> str:
    """Cut to the summary's length (a cohort's patients in many zones), visibly."""
    room = PatientImport._meta.get_field("summary").max_length
    return text if len(text) <= room else f"{text[: room - 1]}…"


def _run_bundle(job: PatientImport) -> str:
    """A bundle, all or nothing, as `POST /fhir/r4/`; its problems are checked again now."""
    request = trail.system_request(job.user, f"staff import {job.pk}")
    try:
        outcome = enrolment.import_bundle(job.text.encode(), job.cohort, job.user, request)
    except BundleRefused as refusal:
        problems = [str(problem) for problem in refusal.problems]
        problem = "The bundle cannot be imported now; nothing was imported."
        return _finish(job, Status.FAILED, refused=problems, problem=problem)
    accepted = len(outcome.created) + len(outcome.updated)
    return _finish(job, Status.DONE, accepted=accepted, summary=outcome.summary())


def _counted(job: PatientImport, total: int):
    def progress(batches, label):
        done = 0
        for batch in batches:
            yield batch
            done = min(total, done + len(batch))
            put(job.progress_key, done, PROGRESS_KEEP)

    return progress


def _finish(job: PatientImport, status: str, **fields) -> str:
    """The outcome; the file's text goes (it names patients; the audit trail keeps its digest)."""
    fields.update(status=status, finished_at=timezone.now(), text="")
    PatientImport.objects.filter(pk=job.pk).update(**fields)
    return status


def done_so_far(job: PatientImport) -> int:
    if job.status == Status.DONE:
        return job.accepted
    return int(get(job.progress_key) or 0)  # the cache down: no progress shown, the import goes on
