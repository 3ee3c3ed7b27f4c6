"""Reading a FHIR R4 Bundle from an EHR into the API's patient input, one per Patient.

Every entry is validated with fhir.resources (R4B models: what R4 servers
exchange); what we then read of it:

- Patient: name (official first), birth date, MRN (the identifier typed MR),
  mobile phone, language, whether they died;
- the primary breast cancer Condition: histology, stage, a recurrence, body site,
  the date of diagnosis (onset);
- tumour-marker Observations for ER, PR and HER2 (the latest final result of
  each);
- completed Procedures: the surgery (date, body site) and the end of primary
  treatment (a procedure coded primary-treatment, else the latest end of all);
- from a bundle we exported (a round trip): the time zone (the standard
  timezone extension on Patient) and, from our follow-up CarePlan, the
  enrolment date and the reminders' local time.

docs/fhir.md gives the codes. Any problem, in any entry, refuses the whole
bundle with the entry and element named.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from . import codes
from .problems import BundleRefused, Problem, entry_path, from_pydantic

CLINICAL_TYPES = ("Condition", "Observation", "Procedure", "CarePlan")
FINAL_STATUSES = frozenset({"final", "amended", "corrected"})


@dataclass
class PatientRecord:
    """One Patient of the bundle, as the API's input, and where each field came from."""

    entry: int
    payload: dict
    sources: dict[str, str] = field(default_factory=dict)  # our field -> FHIRPath
    deceased: bool = False
    deceased_on: date | None = None

    def source(self, name: str) -> str:
        return self.sources.get(name, entry_path(self.entry))


@dataclass
class ReadBundle:
    timestamp: datetime | None
    patients: list[PatientRecord]


def read(raw: bytes | str) -> ReadBundle:
    """The bundle's patients; BundleRefused naming every problem found."""
    data = _json(raw)
    bundle = _validated(data)
    entries = [entry.resource for entry in bundle.entry or []]
    owners, problems = _owners(bundle)
    patients = []
    for index, resource in enumerate(entries):
        if resource.get_resource_type() == "Patient":
            mine = [(i, entries[i]) for i, owner in owners.items() if owner == index]
            record = PatientRecord(index, {"profile": {}})
            problems += _read_patient(record, resource)
            problems += _read_clinical(record, mine)
            patients.append(record)
    if not patients:
        problems.append(Problem("Bundle.entry", "The bundle holds no Patient."))
    if problems:
        raise BundleRefused(problems)
    return ReadBundle(bundle.timestamp, patients)


def _json(raw: bytes | str) -> dict:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleRefused([Problem("Bundle", f"This is not JSON: {exc}")]) from exc
    except RecursionError as exc:
        raise BundleRefused([Problem("Bundle", "The JSON is nested too deeply.")]) from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise BundleRefused([Problem("Bundle", "Expected a FHIR resource of type Bundle.")])
    return data


def _validated(data: dict) -> Bundle:
    """Each entry validated on its own (every problem named), then the bundle."""
    entries = data.get("entry") or []
    problems = []
    if not isinstance(entries, list):
        raise BundleRefused([Problem("Bundle.entry", "Expected a list of entries.")])
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            problems.append(Problem(f"Bundle.entry[{index}]", "The entry has no resource."))
            continue
        problems += _entry_problems(index, resource)
    if problems:
        raise BundleRefused(problems)
    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        raise BundleRefused(from_pydantic("Bundle", exc.errors())) from exc


def _entry_problems(index: int, resource: dict) -> list[Problem]:
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except ValueError:
        return [Problem(entry_path(index, "resourceType"), f"Unknown resource type {kind!r}.")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return from_pydantic(entry_path(index), exc.errors())
    return []


def _owners(bundle: Bundle) -> tuple[dict[int, int], list[Problem]]:
    """Which Patient entry each clinical entry is about (its subject), by index."""
    entries = bundle.entry or []
    patients = {}
    for index, entry in enumerate(entries):
        resource = entry.resource
        if resource.get_resource_type() == "Patient":
            if entry.fullUrl:
                patients[entry.fullUrl] = index
            if resource.id:
                patients[f"Patient/{resource.id}"] = index
    owners, problems = {}, []
    for index, entry in enumerate(entries):
        resource = entry.resource
        if resource.get_resource_type() not in CLINICAL_TYPES:
            continue
        reference = resource.subject.reference if resource.subject else None
        if reference in patients:
            owners[index] = patients[reference]
        else:
            problems.append(
                Problem(
                    entry_path(index, "subject"),
                    f"The subject {reference!r} is not a Patient of this bundle.",
                )
            )
    return owners, problems


def _codings(concept) -> list[tuple[str, str]]:
    if concept is None:
        return []
    return [(c.system or "", c.code or "") for c in concept.coding or []]


def _read_patient(record: PatientRecord, patient) -> list[Problem]:
    payload, at = record.payload, record.entry
    problems = []
    names = sorted(patient.name or [], key=lambda name: name.use != "official")
    if names and names[0].family and names[0].given:
        payload["first_name"] = " ".join(names[0].given)
        payload["last_name"] = names[0].family
    else:
        problems.append(Problem(entry_path(at, "name"), "A family and a given name are needed."))
    record.sources.update(first_name=entry_path(at, "name"), last_name=entry_path(at, "name"))
    if patient.birthDate:
        payload["date_of_birth"] = patient.birthDate.isoformat()
    record.sources["date_of_birth"] = entry_path(at, "birthDate")
    mrn = _mrn(patient)
    if mrn:
        payload["mrn"] = mrn
    else:
        problems.append(
            Problem(entry_path(at, "identifier"), "No medical record number (identifier type MR).")
        )
    record.sources["mrn"] = entry_path(at, "identifier")
    phone = _mobile(patient)
    if phone:
        payload["phone"] = phone
    record.sources["phone"] = entry_path(at, "telecom")
    if patient.deceasedBoolean or patient.deceasedDateTime:
        record.deceased, record.deceased_on = True, _day(patient.deceasedDateTime)
        record.sources["deceased"] = entry_path(at, "deceased[x]")
    zones = [e.valueCode for e in patient.extension or [] if e.url == codes.TIMEZONE_EXTENSION]
    if zones and zones[0]:
        payload["timezone"] = zones[0]
    record.sources["timezone"] = entry_path(at, "extension")
    tags = [c.code for lang in patient.communication or [] for c in lang.language.coding or []]
    language = codes.language_of([tag for tag in tags if tag])
    if language:
        payload["language"] = language
    record.sources["language"] = entry_path(at, "communication")
    return problems


def _mrn(patient) -> str:
    for identifier in patient.identifier or []:
        if (codes.V2_IDENTIFIER_TYPE, codes.MRN_TYPE) in _codings(identifier.type):
            return identifier.value or ""
    return ""


def _mobile(patient) -> str:
    """The SMS number: a phone marked mobile, else the first phone."""
    phones = [t for t in patient.telecom or [] if t.system in ("phone", "sms") and t.value]
    phones.sort(key=lambda telecom: (telecom.use != "mobile", telecom.system != "sms"))
    return phones[0].value if phones else ""


def _read_clinical(record: PatientRecord, entries: list) -> list[Problem]:
    by_type: dict[str, list] = {kind: [] for kind in CLINICAL_TYPES}
    for index, resource in entries:
        by_type[resource.get_resource_type()].append((index, resource))
    problems = _read_condition(record, by_type["Condition"])
    problems += _read_markers(record, by_type["Observation"])
    problems += _read_treatment(record, by_type["Procedure"])
    _read_plan(record, by_type["CarePlan"])
    return problems


def _read_plan(record: PatientRecord, plans: list) -> None:
    """Enrolment date and reminder time from our own follow-up CarePlan (others are ignored)."""
    for index, plan in plans:
        categories = [pair for concept in plan.category or [] for pair in _codings(concept)]
        if (codes.REMINDER_SYSTEM, codes.PLAN_CATEGORY) not in categories:
            continue
        if plan.period and plan.period.start:
            record.payload["enrolled_on"] = _day(plan.period.start).isoformat()
            record.sources["enrolled_on"] = entry_path(index, "period.start")
        for activity in plan.activity or []:
            timing = activity.detail.scheduledTiming if activity.detail else None
            if timing and timing.repeat and timing.repeat.timeOfDay:
                record.payload["reminder_time"] = timing.repeat.timeOfDay[0].strftime("%H:%M")
                record.sources["reminder_time"] = entry_path(index, "activity")


def _is_breast_cancer(condition) -> bool:
    profiles = condition.meta.profile if condition.meta and condition.meta.profile else []
    if any(str(p).endswith("mcode-primary-cancer-condition") for p in profiles):
        return True
    for system, code in _codings(condition.code):
        if system == codes.SNOMED and code in (codes.BREAST_CANCER, *codes.HISTOLOGY_DISORDERS):
            return True
        if "icd-10" in system and code.upper().startswith("C50"):
            return True
    return False


def _read_condition(record: PatientRecord, conditions: list) -> list[Problem]:
    problems, profile = [], record.payload["profile"]
    for index, condition in conditions:
        if not _is_breast_cancer(condition):
            continue
        record.sources["histology"] = entry_path(index, "code")
        morphology = [
            pair
            for extension in condition.extension or []
            if extension.url == codes.HISTOLOGY_EXTENSION
            for pair in _codings(extension.valueCodeableConcept)
        ]
        histology = codes.histology_of(morphology, _codings(condition.code))
        if histology:
            profile["histology"] = histology
        sites = [site.text for site in condition.bodySite or [] if site.text]
        if sites:  # the surgery's own body site, read later, comes first
            profile["surgery_site"] = sites[0]
        onset = condition.onsetDateTime or (condition.onsetPeriod and condition.onsetPeriod.start)
        if onset:
            profile["diagnosis_date"] = _day(onset).isoformat()
            record.sources["diagnosis_date"] = entry_path(index, "onset[x]")
        if (codes.CONDITION_CLINICAL, "recurrence") in _codings(condition.clinicalStatus):
            profile["prior_recurrence"] = True
        problems += _read_stage(record, index, condition)
    return problems


def _read_stage(record: PatientRecord, index: int, condition) -> list[Problem]:
    record.sources["stage"] = entry_path(index, "stage")
    for stage in condition.stage or []:
        summary = stage.summary
        if summary is None:
            continue
        readings = [code for _, code in _codings(summary)] + [summary.text or ""]
        found = next((s for s in map(codes.stage_of, filter(None, readings)) if s), None)
        if found is None:
            return [Problem(entry_path(index, "stage.summary"), "Unreadable stage group.")]
        record.payload["profile"]["stage"] = found
        return []
    return []


def _read_markers(record: PatientRecord, observations: list) -> list[Problem]:
    """The latest final result of each receptor; an unreadable result is a problem."""
    latest: dict[str, tuple] = {}
    problems = []
    for index, observation in observations:
        receptor = codes.receptor_of(_codings(observation.code))
        if receptor is None or observation.status not in FINAL_STATUSES:
            continue
        result = _marker_result(observation)
        if result is None:
            problems.append(
                Problem(
                    entry_path(index, "value[x]"),
                    f"Unreadable {receptor.upper()} result: expected positive, negative "
                    "or equivocal (SNOMED CT, LOINC answer, interpretation or text).",
                )
            )
            continue
        when = _observed_at(observation)
        if receptor not in latest or when >= latest[receptor][0]:
            latest[receptor] = (when, index, result)
    for receptor, (_, index, result) in latest.items():
        record.payload["profile"][receptor] = result
        record.sources[receptor] = entry_path(index, "value[x]")
    return problems


def _marker_result(observation) -> str | None:
    if observation.dataAbsentReason is not None:
        return codes.UNKNOWN
    concept = observation.valueCodeableConcept
    coding = _codings(concept) + [
        pair
        for interpretation in observation.interpretation or []
        for pair in _codings(interpretation)
    ]
    text = (concept.text if concept else "") or observation.valueString or ""
    return codes.result_of(coding, text)


def _observed_at(observation) -> str:
    """Sortable when: effective time, else issued, else "" (earliest)."""
    when = observation.effectiveDateTime or observation.issued
    return when.isoformat() if when else ""


def _performed(procedure) -> tuple[date | None, date | None]:
    """(start, end) days of a procedure."""
    if procedure.performedPeriod is not None:
        start, end = procedure.performedPeriod.start, procedure.performedPeriod.end
        return _day(start), _day(end or start)
    day = _day(procedure.performedDateTime)
    return day, day


def _day(value) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def _read_treatment(record: PatientRecord, procedures: list) -> list[Problem]:
    profile, ends, primary = record.payload["profile"], [], None
    for index, procedure in procedures:
        if procedure.status != "completed":
            continue
        start, end = _performed(procedure)
        if end is None:
            return [
                Problem(entry_path(index, "performed[x]"), "A completed procedure needs a date.")
            ]
        ends.append((end, index))
        if (codes.TREATMENT_SYSTEM, codes.PRIMARY_TREATMENT) in _codings(procedure.code):
            primary = (end, index)
        if (codes.SNOMED, codes.SURGICAL_PROCEDURE) in _codings(procedure.category):
            profile["surgery_date"] = start.isoformat()
            record.sources["surgery_date"] = entry_path(index, "performed[x]")
            sites = [site.text for site in procedure.bodySite or [] if site.text]
            if sites:
                profile["surgery_site"] = sites[0]
    chosen = primary or (max(ends) if ends else None)
    if chosen is None:
        return [
            Problem(
                entry_path(record.entry),
                "No end of primary treatment: the bundle needs a completed Procedure "
                "about this patient.",
            )
        ]
    profile["treatment_end_date"] = chosen[0].isoformat()
    record.sources["treatment_end_date"] = entry_path(chosen[1], "performed[x]")
    return []
