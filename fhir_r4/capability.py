"""What this server does in FHIR R4, as the CapabilityStatement at /fhir/r4/metadata."""

from django.conf import settings
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from .bulk_export import TYPES

EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
RELEASED = "2026-11-29"


def _resource(kind: str) -> dict:
    if kind == "Patient":
        return {
            "type": "Patient",
            "interaction": [{"code": "read"}],
            "operation": [{"name": "everything", "definition": EVERYTHING}],
            "documentation": "Patient/{id}/$everything?include-bodies=true adds SMS words.",
        }
    if kind == "Group":
        return {
            "type": "Group",
            "documentation": "A cohort: Group/{cohort id}/$export (Bulk Data, NDJSON).",
            "operation": [{"name": "export", "definition": GROUP_EXPORT}],
        }
    return {"type": kind, "documentation": "In $everything and in bulk exports."}


def capability_statement() -> CapabilityStatement:
    return CapabilityStatement(
        status="active",
        date=RELEASED,
        kind="instance",
        name="SkinSurveillanceFollowUp",
        title="Follow-up surveillance after breast cancer: FHIR R4",
        implementation={
            "description": "Follow-up surveillance service",
            "url": f"{settings.PUBLIC_BASE_URL}/fhir/r4",
        },
        fhirVersion="4.0.1",
        format=["application/fhir+json"],
        rest=[
            {
                "mode": "server",
                "documentation": (
                    "POST a Bundle to the base with ?cohort={id} to enrol or update its "
                    "patients (all or nothing)."
                ),
                "security": {
                    "description": (
                        "The API's tokens (Authorization: Token ...) or a staff session; "
                        "each user sees their own cohorts only."
                    )
                },
                "resource": [_resource(kind) for kind in ("Patient", "Group", *TYPES[1:])],
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    )
