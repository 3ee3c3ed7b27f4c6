"""A patient and their tumour as FHIR R4 resources, shaped as mCODE shapes them.

Patient; the primary breast cancer Condition (histology, stage, recurrence);
the surgery and the end of primary treatment as Procedures; ER, PR and HER2
as tumour-marker Observations; the latest RiskAssessment with every reason.
Each is built as a fhir.resources model, so each is validated as it is made.
What `bundle_reader` reads back is exactly what is written here.
"""

from django.conf import settings

from cohorts.models import TumourProfile

from . import codes
from .patient_data import PatientData
from .resource_json import resource


def coding(system: str, code: str, display: str = "") -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(system: str, code: str, display: str = "") -> dict:
    return {"coding": [coding(system, code, display)]}


def subject(data: PatientData) -> dict:
    return {"reference": f"Patient/{data.patient.pk}"}


def patient_resource(data: PatientData) -> dict:
    patient = data.patient
    contact = patient.contact
    return resource(
        "Patient",
        id=str(patient.pk),
        meta={"profile": [codes.MCODE_PROFILE + "mcode-cancer-patient"]},
        extension=[{"url": codes.TIMEZONE_EXTENSION, "valueCode": contact.timezone}],
        identifier=[
            {
                "use": "usual",
                "type": concept(codes.V2_IDENTIFIER_TYPE, codes.MRN_TYPE, "Medical record number"),
                "system": settings.FHIR_MRN_SYSTEM,
                "value": patient.mrn,
                "assigner": {"display": patient.site},
            }
        ],
        active=patient.is_active,
        deceasedDateTime=patient.withdrawn_on if _died(patient) else None,
        name=[{"use": "official", "family": patient.last_name, "given": [patient.first_name]}],
        telecom=[{"system": "phone", "value": contact.number, "use": "mobile"}],
        birthDate=patient.date_of_birth,
        communication=[{"language": concept(codes.LANGUAGE, contact.language), "preferred": True}],
    )


def _died(patient) -> bool:
    return patient.withdrawal_reason == patient.WithdrawalReason.DECEASED


def condition(data: PatientData) -> dict:
    profile = data.patient.profile
    morphology, morphology_name = codes.HISTOLOGY_OUT[profile.histology]
    status = "recurrence" if profile.prior_recurrence else "remission"
    stages = []
    if profile.stage != TumourProfile.Stage.UNKNOWN:
        group = codes.stage_code(profile.stage)
        stages = [{"summary": concept(codes.AJCC, group, f"Stage {profile.stage}")}]
    return resource(
        "Condition",
        id=f"{data.patient.pk}-primary-cancer",
        meta={"profile": [codes.MCODE_PROFILE + "mcode-primary-cancer-condition"]},
        extension=[
            {
                "url": codes.HISTOLOGY_EXTENSION,
                "valueCodeableConcept": concept(codes.ICD_O_3, morphology, morphology_name),
            }
        ],
        clinicalStatus=concept(codes.CONDITION_CLINICAL, status),
        code=concept(codes.SNOMED, codes.BREAST_CANCER, "Malignant neoplasm of breast"),
        bodySite=[{"text": profile.surgery_site}] if profile.surgery_site else None,
        subject=subject(data),
        onsetDateTime=profile.diagnosis_date,
        stage=stages or None,
    )


def procedures(data: PatientData) -> list[dict]:
    profile = data.patient.profile
    found = []
    if profile.surgery_date:
        found.append(
            resource(
                "Procedure",
                id=f"{data.patient.pk}-surgery",
                status="completed",
                category=concept(codes.SNOMED, codes.SURGICAL_PROCEDURE, "Surgical procedure"),
                code={"text": "Breast cancer surgery"},
                subject=subject(data),
                performedDateTime=profile.surgery_date,
                bodySite=[{"text": profile.surgery_site}] if profile.surgery_site else None,
            )
        )
    period = {"end": profile.treatment_end_date}
    if profile.surgery_date:
        period["start"] = profile.surgery_date
    found.append(
        resource(
            "Procedure",
            id=f"{data.patient.pk}-primary-treatment",
            status="completed",
            code={
                "coding": [coding(codes.TREATMENT_SYSTEM, codes.PRIMARY_TREATMENT)],
                "text": "Primary treatment of breast cancer",
            },
            subject=subject(data),
            performedPeriod=period,
        )
    )
    return found


def tumour_markers(data: PatientData) -> list[dict]:
    profile = data.patient.profile
    return [
        _marker(data, receptor, getattr(profile, receptor)) for receptor in ("er", "pr", "her2")
    ]


def _marker(data: PatientData, receptor: str, result: str) -> dict:
    test, test_name = codes.RECEPTOR_TEST_OUT[receptor]
    value = {}
    if result in codes.RESULT_OUT:
        value["valueCodeableConcept"] = concept(codes.SNOMED, *codes.RESULT_OUT[result])
    else:
        value["dataAbsentReason"] = concept(codes.DATA_ABSENT, "unknown", "Unknown")
    return resource(
        "Observation",
        id=f"{data.patient.pk}-{receptor}",
        meta={"profile": [codes.MCODE_PROFILE + "mcode-tumor-marker-test"]},
        status="final",
        category=[concept(codes.OBSERVATION_CATEGORY, "laboratory")],
        code=concept(codes.LOINC, test, test_name),
        subject=subject(data),
        **value,
    )


def risk_assessment(data: PatientData) -> dict | None:
    assessment = data.assessment
    if assessment is None:
        return None
    method = coding(codes.RISK_RULES_SYSTEM, "follow-up-tier", "Follow-up risk tier rules")
    return resource(
        "RiskAssessment",
        id=f"risk-{assessment.pk}",
        status="final",
        method={"coding": [{**method, "version": assessment.rule_version}]},
        subject=subject(data),
        occurrenceDateTime=assessment.assessed_at,
        prediction=[
            {
                "qualitativeRisk": concept(codes.RISK_TIER_SYSTEM, assessment.tier),
                "rationale": "; ".join(assessment.reasons),
            }
        ],
        note=[{"text": reason} for reason in assessment.reasons] or None,
    )
