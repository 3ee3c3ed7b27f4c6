"""Bulk import in the browser: upload the CSV the import command takes, or an EHR's FHIR
R4 bundle (.json), see a preview with each problem, confirm, and watch a Celery task
enrol and plan the patients.

CSV files go through `cohorts.patient_import`, as the command's: the same
format, the same rules (the API's), all or nothing unless the coordinator
chooses to import only the valid rows. Bundles go through `fhir_r4.enrolment`,
as `POST /fhir/r4/` and `import_fhir_bundle`, all or nothing; the preview is a
dry run of the import itself. Each import is its uploader's alone.
"""

import hashlib
import io

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cohorts import patient_import
from cohorts.access import cohorts_for
from fhir_r4 import bundle_reader, enrolment
from fhir_r4.problems import BundleRefused

from . import import_runs
from .access import mine_or_404, staff_page
from .models import PatientImport
from .responses import refused
from .tasks import run_patient_import

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000  # beyond: manage.py import_patients
PREVIEW_ROWS = 20
PREVIEW_COLUMNS = ("first_name", "last_name", "mrn", "phone")
Status = PatientImport.Status
Kind = PatientImport.Kind


def _kind(upload) -> str:
    return Kind.FHIR if upload.name.lower().endswith(".json") else Kind.CSV


def _read(upload) -> str:
    """The upload as text; ValueError says why not."""
    if upload is None:
        raise ValueError("Choose a CSV file or a FHIR bundle.")
    if upload.size > MAX_BYTES:
        raise ValueError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"The file is not UTF-8 text: {exc}") from exc


@staff_page
@require_http_methods(["GET", "HEAD", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    cohorts = list(cohorts_for(request.user).order_by("name"))
    if request.method != "POST":
        return render(request, "staff/import_form.html", {"cohorts": cohorts, "max_rows": MAX_ROWS})
    cohort = next((c for c in cohorts if str(c.pk) == request.POST.get("cohort")), None)
    if cohort is None:
        return refused(request, "Choose one of your cohorts.")
    try:
        text = _read(request.FILES.get("file"))
        kind = _kind(request.FILES["file"])
        checked = _check_bundle if kind == Kind.FHIR else _check_csv
        rows, problems = checked(text, cohort, request.user)
    except (ValueError, patient_import.BadFile) as exc:
        return refused(request, str(exc))
    job = PatientImport.objects.create(
        user=request.user,
        cohort=cohort,
        kind=kind,
        filename=request.FILES["file"].name[:200],
        digest=hashlib.sha256(text.encode()).hexdigest(),
        text=text,
        rows=rows,
        refused=problems,
    )
    return redirect("staff:import", import_id=job.pk)


def _check_csv(text: str, cohort, user) -> tuple[int, list[str]]:
    """(rows, each row's errors) of a CSV file; BadFile or ValueError if it is not one."""
    rows = patient_import.parse(io.StringIO(text, newline=""))
    if len(rows) > MAX_ROWS:
        raise ValueError(f"More than {MAX_ROWS} rows: use manage.py import_patients.")
    patient_import.validate(rows, cohort, user)
    return len(rows), [f"row {row.line}: {error}" for row in rows for error in row.errors]


def _check_bundle(text: str, cohort, user) -> tuple[int, list[str]]:
    """(patients, problems) of a FHIR bundle, from a dry run of its import."""
    try:
        outcome = enrolment.dry_run(text.encode(), cohort, user)
    except BundleRefused as refusal:
        return 0, [str(problem) for problem in refusal.problems]
    return len(outcome.applied) + len(outcome.older), []


def _job(request: HttpRequest, import_id: int, lock: bool = False) -> PatientImport:
    mine = PatientImport.objects.filter(user=request.user).select_related("cohort")
    # Another user's import is a probe like another cohort's patient (it names patients).
    return mine_or_404(
        mine.select_for_update() if lock else mine, import_id, "patient_import", None
    )


def _refused_lines(job: PatientImport) -> set[str]:
    """The file lines with an error ("row 7: phone: ..." -> "7")."""
    return {error.split(":")[0].removeprefix("row ") for error in job.refused}


def _preview(job: PatientImport) -> list[list[str]]:
    """The first rows that will be enrolled, read again from the kept file."""
    if job.kind == Kind.FHIR:
        patients = bundle_reader.read(job.text.encode()).patients[:PREVIEW_ROWS]
        return [[p.payload.get(name, "") for name in PREVIEW_COLUMNS] for p in patients]
    refused = _refused_lines(job)
    rows = patient_import.parse(io.StringIO(job.text, newline=""))
    shown = [row for row in rows if str(row.line) not in refused][:PREVIEW_ROWS]
    return [[row.cells.get(name, "") for name in PREVIEW_COLUMNS] for row in shown]


def _context(job: PatientImport) -> dict:
    done = import_runs.done_so_far(job)
    if job.kind == Kind.FHIR:
        valid = 0 if job.refused else job.rows  # a bundle is all or nothing
    else:
        valid = job.rows - len(_refused_lines(job))
    return {
        "job": job,
        "valid": valid,
        "done": done,
        "percent": round(100 * done / valid) if valid else 100,
        "preview": _preview(job) if job.status == Status.PREVIEWED and valid else [],
    }


@staff_page
@require_GET
def import_page(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job(request, import_id)
    return render(request, "staff/import.html", _context(job))


@staff_page
@require_GET
def import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    """The progress fragment the page polls while the task runs."""
    job = _job(request, import_id)
    return render(request, "staff/_import_progress.html", _context(job))


@staff_page
@require_POST
def start(request: HttpRequest, import_id: int) -> HttpResponse:
    """Confirm a previewed import: a Celery task enrols it (once, whatever is clicked twice)."""
    with transaction.atomic():
        job = _job(request, import_id, lock=True)
        if job.status != Status.PREVIEWED:
            return redirect("staff:import", import_id=job.pk)
        job.valid_only = request.POST.get("valid_only") == "yes"
        if job.kind == Kind.FHIR and job.refused:
            return refused(request, "The bundle has problems: fix it and upload it again.")
        if job.refused and not job.valid_only:
            return refused(
                request, "Some rows are invalid: fix the file, or import the valid rows."
            )
        job.status = Status.QUEUED
        job.save(update_fields=["status", "valid_only"])
        transaction.on_commit(lambda: run_patient_import.delay(job.pk))
    return redirect("staff:import", import_id=job.pk)
