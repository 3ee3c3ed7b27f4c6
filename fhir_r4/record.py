"""A patient's whole record as FHIR resources: what `$everything` and the bulk export serve."""

from collections.abc import Iterator

from django.conf import settings
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from . import clinical_resources as clinical
from . import follow_up_resources as follow_up
from .lesion_questionnaire import questionnaire
from .patient_data import PatientData

BASE_PATH = "/fhir/r4/"


def resources(data: PatientData, include_bodies: bool = False) -> Iterator[Resource]:
    """Every resource of the patient's record, the patient first."""
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


def full_url(resource: Resource) -> str:
    return f"{settings.PUBLIC_BASE_URL}{BASE_PATH}{resource.get_resource_type()}/{resource.id}"


def everything(data: PatientData, include_bodies: bool, self_url: str) -> Bundle:
    """The `Patient/{id}/$everything` searchset, with the Questionnaire its reports answer."""
    found = list(resources(data, include_bodies))
    entries = [{"fullUrl": full_url(r), "resource": r, "search": {"mode": "match"}} for r in found]
    if data.reports:
        form = questionnaire()
        entries.append({"fullUrl": full_url(form), "resource": form, "search": {"mode": "include"}})
    return Bundle(
        type="searchset",
        total=len(found),
        link=[{"relation": "self", "url": self_url}],
        entry=entries,
    )
