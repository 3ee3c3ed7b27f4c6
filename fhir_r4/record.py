"""A patient's whole record as FHIR resources: what `$everything` and the bulk export serve."""

from collections.abc import Iterator

from django.conf import settings
from fhir.resources.R4B.bundle import Bundle

from . import clinical_resources as clinical
from . import follow_up_resources as follow_up
from .lesion_questionnaire import questionnaire
from .patient_data import PatientData
from .resource_json import validated

BASE_PATH = "/fhir/r4/"


def resources(data: PatientData, include_bodies: bool = False) -> Iterator[dict]:
    """Every resource of the patient's record (JSON-ready, not yet validated), the patient first."""
    yield clinical.patient_resource(data)
    yield clinical.condition(data)
    yield from clinical.procedures(data)
    yield from clinical.tumour_markers(data)
    assessment = clinical.risk_assessment(data)
    if assessment is not None:
        yield assessment
    yield follow_up.care_plan(data)
    yield from follow_up.appointments(data)
    yield from follow_up.flags(data)
    yield from follow_up.questionnaire_responses(data)
    yield from follow_up.media(data)
    yield from follow_up.communications(data, include_bodies)


def full_url(resource: dict) -> str:
    return f"{settings.PUBLIC_BASE_URL}{BASE_PATH}{resource['resourceType']}/{resource['id']}"


def everything(data: PatientData, include_bodies: bool, self_url: str) -> Bundle:
    """The `Patient/{id}/$everything` searchset, with the Questionnaire its reports answer."""
    found = [(r, "match") for r in resources(data, include_bodies)]
    if data.reports:
        found.append((questionnaire(), "include"))
    entries = [
        {"fullUrl": full_url(r), "resource": validated(r), "search": {"mode": mode}}
        for r, mode in found
    ]
    return Bundle(
        type="searchset",
        total=sum(mode == "match" for _, mode in found),
        link=[{"relation": "self", "url": self_url}],
        entry=entries,
    )
