"""Enrolling and updating patients from an EHR's FHIR bundle: all of it, or nothing.

Each Patient of the bundle goes through the API's own PatientSerializer (the
same rules, the same messages), with its errors named at the FHIR element
they came from. A patient whose MRN is already enrolled at the cohort's site
is updated, and re-assessed, when the bundle says something new; the same
bundle twice changes nothing; a bundle older than the one last applied to a
patient leaves that patient alone. A patient the EHR says died is withdrawn
from follow-up (reminders stop at once); a deceased patient is never enrolled.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from rest_framework.exceptions import ValidationError

from audit import trail
from cohorts import site_days
from cohorts.access import patients_for
from cohorts.models import Cohort, Patient
from cohorts.patient_import import ImportRequest, flatten_errors
from cohorts.serializers import PatientSerializer
from records.withdrawal import Reason, withdraw

from . import bundle_reader
from .models import SourceBundle
from .problems import BundleRefused, Problem


@dataclass
class Outcome:
    digest: str
    created: list[Patient] = field(default_factory=list)
    updated: list[Patient] = field(default_factory=list)
    unchanged: list[Patient] = field(default_factory=list)
    older: list[Patient] = field(default_factory=list)  # a newer bundle was applied already
    withdrawn: list[Patient] = field(default_factory=list)  # the EHR says they died

    @property
    def applied(self) -> list[Patient]:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        return (
            f"{len(self.created)} enrolled, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.older)} left (older bundle)"
            + (f", {len(self.withdrawn)} withdrawn (deceased)" if self.withdrawn else "")
        )


def import_bundle(raw: bytes, cohort: Cohort, actor, request) -> Outcome:
    """Apply the bundle's patients to `cohort` as `actor`; BundleRefused changes nothing."""
    read = bundle_reader.read(raw)
    outcome = Outcome(hashlib.sha256(raw).hexdigest())
    with transaction.atomic():
        problems = _duplicates(read.patients)
        existing = _enrolled(cohort, read.patients)
        visible = set(patients_for(actor).filter(pk__in=[p.pk for p in existing.values()]))
        for record in read.patients:
            patient = existing.get(record.payload.get("mrn"))
            if patient is None:
                problems += _create(record, cohort, actor, outcome)
            elif patient not in visible:
                problems.append(Problem(record.source("mrn"), _NOT_YOURS))
            else:
                problems += _update(record, patient, read.timestamp, actor, outcome)
        if problems:
            raise BundleRefused(problems)
        _remember(outcome, read.timestamp)
        _audit(request, cohort, outcome)
    return outcome


class _RolledBack(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


def dry_run(raw: bytes, cohort: Cohort, actor) -> Outcome:
    """What importing the bundle would do (every rule checked), with nothing kept."""
    request = trail.system_request(actor, "FHIR bundle check")
    try:
        with transaction.atomic():
            raise _RolledBack(import_bundle(raw, cohort, actor, request))
    except _RolledBack as checked:
        return checked.outcome


_NOT_YOURS = "This MRN is enrolled at this site in a cohort you do not coordinate."


def _duplicates(records: list[bundle_reader.PatientRecord]) -> list[Problem]:
    seen, problems = set(), []
    for record in records:
        mrn = record.payload.get("mrn")
        if mrn is None:  # already a problem of its own
            continue
        if mrn in seen:
            problems.append(Problem(record.source("mrn"), "This MRN is on another Patient here."))
        seen.add(mrn)
    return problems


def _enrolled(cohort: Cohort, records) -> dict[str, Patient]:
    mrns = [record.payload.get("mrn") for record in records]
    found = Patient.objects.filter(site=cohort.site, mrn__in=mrns).select_related(
        "profile", "contact", "cohort", "fhir_source"
    )
    return {patient.mrn: patient for patient in found}


def _refusal(record, serializer) -> list[Problem]:
    return [
        Problem(record.source(name), message) for name, message in flatten_errors(serializer.errors)
    ]


def _create(record, cohort: Cohort, actor, outcome: Outcome) -> list[Problem]:
    if record.deceased:
        return [Problem(record.source("deceased"), "A deceased patient is not enrolled.")]
    data = {**record.payload, "cohort": cohort.pk}
    serializer = PatientSerializer(data=data, context={"request": ImportRequest(actor)})
    if not serializer.is_valid():
        return _refusal(record, serializer)
    try:
        outcome.created.append(serializer.save())
    except ValidationError as refused:  # another request enrolled the MRN since validation
        return [
            Problem(record.source("mrn"), message) for _, message in flatten_errors(refused.detail)
        ]
    return []


def _update(record, patient: Patient, timestamp, actor, outcome: Outcome) -> list[Problem]:
    applied = getattr(patient, "fhir_source", None)
    if applied and applied.timestamp and timestamp and timestamp < applied.timestamp:
        outcome.older.append(patient)
        return []
    serializer = PatientSerializer(
        patient, data=record.payload, partial=True, context={"request": ImportRequest(actor)}
    )
    if not serializer.is_valid():
        return _refusal(record, serializer)
    if _differs(patient, serializer.validated_data):
        outcome.updated.append(serializer.save())
    else:
        outcome.unchanged.append(patient)
    if record.deceased and patient.is_active:
        on = record.deceased_on or site_days.today(patient.cohort)
        withdraw(patient, Reason.DECEASED, on, by=actor)
        outcome.withdrawn.append(patient)
    return []


def _differs(patient: Patient, validated: dict) -> bool:
    """Would saving `validated` change the patient, their profile or their phone?"""
    targets = {"profile": patient.profile, "contact": patient.contact}
    for name, value in validated.items():
        if name in targets:
            if any(getattr(targets[name], key) != new for key, new in value.items()):
                return True
        elif getattr(patient, name) != value:
            return True
    return False


def _remember(outcome: Outcome, timestamp) -> None:
    """Which bundle each patient last took (written only when it is another one)."""
    for patient in outcome.applied:
        applied = getattr(patient, "fhir_source", None)
        if applied is None or (applied.timestamp, applied.digest) != (timestamp, outcome.digest):
            SourceBundle.objects.update_or_create(
                patient=patient, defaults={"timestamp": timestamp, "digest": outcome.digest}
            )


def _audit(request, cohort: Cohort, outcome: Outcome) -> None:
    summary = f"FHIR bundle into cohort {cohort.pk}: {outcome.summary()}"
    trail.record(request, trail.Action.IMPORT, None, "fhir_bundle", outcome.digest, summary)
    written = outcome.created + outcome.updated
    trail.record(request, trail.Action.IMPORT, written, "patient", reason=summary)
