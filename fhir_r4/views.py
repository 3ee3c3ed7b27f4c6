"""The FHIR R4 endpoints under /fhir/r4/: scoped by cohort and audited like the API.

A patient or cohort outside the user's cohorts is a 404, as in the API, and the
audit trail keeps the probe (`trail.record_probe`: with whose record it was, if
it exists). Reads of a record are audited as exports (the record leaves the
service).
"""

import json

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpResponse
from django.utils.http import http_date
from rest_framework.permissions import AllowAny

from audit import trail
from cohorts.access import cohorts_for, is_admin, patients_for
from cohorts.models import Cohort, Patient

from . import bulk_export, enrolment, patient_data, record, subject_access
from .capability import capability_statement
from .import_response import import_response
from .models import BulkExport
from .problems import BundleRefused
from .resource_json import validated
from .responses import (
    NDJSON,
    FhirView,
    outcome_response,
    problem_response,
    resource_response,
)
from .tasks import build_bulk_export

Status = BulkExport.Status
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
TRUE = ("true", "1", "yes")
# Bulk Data parameters this server does not offer: refused, never silently ignored.
UNSUPPORTED_EXPORT_PARAMETERS = ("_since", "_typeFilter", "_elements", "patient")


def _include_bodies(request) -> bool:
    return request.query_params.get("include-bodies", "").lower() in TRUE


def _patient_or_none(request, patient_id: int):
    """The user's patient with this id; else None, and the probe is audited (the caller: 404)."""
    patient = patients_for(request.user).filter(pk=patient_id).first()
    if patient is None:
        trail.record_probe(request, Patient, patient_id, "patient")
    return patient


class Metadata(FhirView):
    permission_classes = [AllowAny]

    def get(self, request):
        return resource_response(capability_statement())


class PatientRead(FhirView):
    def get(self, request, patient_id: int):
        found = patient_data.load([patient_id]) if _patient_or_none(request, patient_id) else []
        if not found:
            return problem_response(404, f"No Patient/{patient_id} in your cohorts.")
        trail.record(request, trail.Action.VIEW, patient_id, "fhir_patient", patient_id)
        return resource_response(validated(next(record.resources(found[0]))))


class Everything(FhirView):
    """`Patient/{id}/$everything`: the whole record; SMS words only with include-bodies=true."""

    def get(self, request, patient_id: int):
        found = patient_data.load([patient_id]) if _patient_or_none(request, patient_id) else []
        if not found:
            return problem_response(404, f"No Patient/{patient_id} in your cohorts.")
        bodies = _include_bodies(request)
        bundle = record.everything(found[0], bodies, request.build_absolute_uri())
        reason = "fhir $everything" + (" with SMS bodies" if bodies else "")
        trail.record(request, trail.Action.EXPORT, patient_id, "fhir_everything", reason=reason)
        return resource_response(bundle)


class SubjectAccessArchive(FhirView):
    """The patient's complete record for a subject-access request: bundle and photos, a zip."""

    def get(self, request, patient_id: int):
        found = patient_data.load([patient_id]) if _patient_or_none(request, patient_id) else []
        if not found:
            return problem_response(404, f"No Patient/{patient_id} in your cohorts.")
        archive = subject_access.archive(found[0], request.build_absolute_uri())
        trail.record(
            request, trail.Action.EXPORT, patient_id, "subject_access", reason="record zip"
        )
        response = FileResponse(archive, content_type="application/zip", as_attachment=True)
        response["Content-Disposition"] = f'attachment; filename="patient-{patient_id}-record.zip"'
        return response


class BundleImport(FhirView):
    """POST a Bundle to the base with `?cohort=ID`: enrol or update its patients, all or nothing."""

    def post(self, request):
        content_type = request.content_type.split(";")[0].strip()
        if content_type not in ACCEPTED_TYPES:
            return problem_response(415, "Send the Bundle as application/fhir+json.")
        cohort = cohorts_for(request.user).filter(pk=_int(request.query_params.get("cohort")))
        if not cohort:
            return problem_response(400, "?cohort= must name one of your cohorts.", "cohort")
        raw = request.stream.read(settings.FHIR_IMPORT_MAX_BYTES + 1) if request.stream else b""
        if len(raw) > settings.FHIR_IMPORT_MAX_BYTES:
            return problem_response(413, "The bundle is larger than FHIR_IMPORT_MAX_BYTES.")
        try:
            outcome = enrolment.import_bundle(raw, cohort[0], request.user, request)
        except BundleRefused as refused:
            return outcome_response(400, refused.problems)
        return resource_response(import_response(outcome))


def _int(value) -> int:
    return int(value) if value and str(value).isdigit() else 0


class GroupExport(FhirView):
    """Bulk Data kick-off, `Group/{cohort id}/$export`: 202 and the status URL."""

    def get(self, request, cohort_id: int):
        cohort = cohorts_for(request.user).filter(pk=cohort_id).first()
        if cohort is None:
            trail.record_probe(request, Cohort, cohort_id, "cohort", whose=None)
            return problem_response(404, f"No Group/{cohort_id} in your cohorts.")
        if "respond-async" not in request.headers.get("Prefer", ""):
            return problem_response(400, "Bulk export needs the header Prefer: respond-async.")
        unsupported = [
            name for name in UNSUPPORTED_EXPORT_PARAMETERS if name in request.query_params
        ]
        if unsupported:
            return problem_response(
                400, f"Not supported: {', '.join(unsupported)}.", unsupported[0]
            )
        output_format = request.query_params.get("_outputFormat", NDJSON)
        if output_format not in NDJSON_FORMATS:
            return problem_response(400, "Only NDJSON output is offered.", "_outputFormat")
        types = [t for t in request.query_params.get("_type", "").split(",") if t]
        unknown = [t for t in types if t not in bulk_export.TYPES]
        if unknown:
            return problem_response(400, f"Unknown types: {', '.join(unknown)}.", "_type")
        with transaction.atomic():
            export = bulk_export.create(
                cohort, request.user, request.build_absolute_uri(), types, _include_bodies(request)
            )
            trail.record(
                request,
                trail.Action.EXPORT,
                None,
                "fhir_bulk_export",
                export.pk,
                reason=f"cohort {cohort.pk} bulk export kick-off",
            )
            transaction.on_commit(lambda: build_bulk_export.delay(str(export.pk)))
        response = HttpResponse(status=202)
        response["Content-Location"] = request.build_absolute_uri(_status_path(export))
        return response


def _status_path(export: BulkExport) -> str:
    return f"{record.BASE_PATH}bulk-status/{export.pk}"


def _export_or_none(request, export_id):
    """The user's own export (an admin's: anyone's) of a cohort they still belong to."""
    exports = BulkExport.objects.filter(pk=export_id, cohort__in=cohorts_for(request.user))
    if not is_admin(request.user):
        exports = exports.filter(requested_by=request.user)
    export = exports.first()
    if export is None:  # another's, or none: the probe is audited
        trail.record_probe(request, BulkExport, export_id, "fhir_bulk_export", whose=None)
    return export


class BulkStatus(FhirView):
    """Poll (202 with X-Progress, then 200 with the manifest) or cancel (DELETE) an export."""

    def get(self, request, export_id):
        export = _export_or_none(request, export_id)
        if export is None or export.status in (Status.CANCELLED, Status.EXPIRED):
            return problem_response(404, "No such export (cancelled, expired or not yours).")
        if export.status == Status.FAILED:
            return problem_response(500, f"The export failed: {export.error}")
        if export.status != Status.COMPLETE:
            response = HttpResponse(status=202)
            response["X-Progress"] = (
                f"{export.progress} ({export.patients_done} of {export.patients_total} patients)"
            )
            response["Retry-After"] = "5"
            return response
        response = HttpResponse(
            json.dumps(bulk_export.manifest(export)), content_type="application/json"
        )
        response["Expires"] = http_date(export.expires_at.timestamp())
        return response

    def delete(self, request, export_id):
        export = _export_or_none(request, export_id)
        if export is None or export.status in (Status.CANCELLED, Status.EXPIRED):
            return problem_response(404, "No such export (cancelled, expired or not yours).")
        bulk_export.cancel(export)
        return HttpResponse(status=202)


class BulkFile(FhirView):
    """One NDJSON file of a complete export, streamed; who fetched it is audited."""

    def get(self, request, export_id, kind: str):
        export = _export_or_none(request, export_id)
        if export is None or export.status != Status.COMPLETE or kind not in export.counts:
            return problem_response(404, "No such file (not ready, expired or not yours).")
        try:
            handle = open(bulk_export.file_path(export, kind), "rb")  # noqa: SIM115 (streamed)
        except FileNotFoundError:  # expired between the check and now
            return problem_response(404, "No such file (not ready, expired or not yours).")
        trail.record(
            request,
            trail.Action.EXPORT,
            None,
            "fhir_bulk_file",
            export.pk,
            reason=f"cohort {export.cohort_id} {kind}.ndjson ({export.counts[kind]} resources)",
        )
        return FileResponse(handle, content_type=NDJSON)
