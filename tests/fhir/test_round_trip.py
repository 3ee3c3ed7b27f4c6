"""Export a patient, import the bundle into an empty database: the same tier, plan and profile.

The database is emptied with `flush` between the two, so these tests commit (transactional_db).
"""

from datetime import date

import pytest
from django.core.management import call_command

from cohorts.models import Patient
from cohorts.serializers import TumourProfileSerializer
from tests.factories import CohortFactory, PatientFactory, UserFactory, change_patient
from tests.integration.sms_world import ensure_default_protocol

from .helpers import post_bundle


@pytest.fixture(autouse=True)
def default_protocol(transactional_db):
    ensure_default_protocol()


PROFILE = TumourProfileSerializer.Meta.fields


def _snapshot(patient: Patient) -> dict:
    patient = Patient.objects.select_related("profile", "contact").get(pk=patient.pk)
    assessment = patient.latest_assessment
    return {
        "identity": (patient.first_name, patient.last_name, patient.mrn, patient.date_of_birth),
        "phone": (patient.contact.number, patient.contact.language, patient.contact.timezone),
        "enrolment": (patient.enrolled_on, patient.reminder_time),
        "profile": {name: getattr(patient.profile, name) for name in PROFILE},
        "tier": (patient.risk_tier, assessment.tier, assessment.reasons, assessment.rule_version),
        "visits": list(
            patient.visits.order_by("due_date", "kind").values_list(
                "kind", "due_date", "window_start", "window_end"
            )
        ),
        "reminders": list(
            patient.reminder_series.filter(is_active=True).values_list(
                "kind", "rule", "dtstart", "timezone", "next_due_at"
            )
        ),
    }


def _round_trip(patient: Patient, api) -> dict:
    coordinator = patient.cohort.coordinators.get()
    exported = api(coordinator).get(f"/fhir/r4/Patient/{patient.pk}/$everything").json()
    call_command("flush", interactive=False, verbosity=0)
    assert not Patient.objects.exists()
    ensure_default_protocol()  # a freshly migrated database has it
    user = UserFactory(username="receiver", role="coordinator")
    cohort = CohortFactory(name="Arrivals", site="Receiving Hospital", coordinators=[user])
    response = post_bundle(api(user), exported, cohort.pk)
    assert response.status_code == 200, response.content
    return _snapshot(Patient.objects.get())


def test_a_her2_positive_patient_comes_back_the_same(cohort_a, api):
    patient = PatientFactory(
        cohort=cohort_a, tier="high", timezone="America/Chicago", language="es"
    )
    before = _snapshot(patient)

    assert _round_trip(patient, api) == before


def test_an_inflammatory_stage_three_recurrence_with_unknowns_comes_back_the_same(cohort_a, api):
    patient = PatientFactory(cohort=cohort_a, tier="standard", histology="inflammatory")
    profile = patient.profile
    profile.her2, profile.stage, profile.prior_recurrence = "unknown", "III", True
    profile.surgery_site = "right breast, upper outer quadrant"
    profile.diagnosis_date = date(2025, 8, 28)
    profile.save()
    change_patient(patient, reminder_time="18:45")
    from cohorts import services

    services.reassess_and_replan([Patient.objects.select_related("profile").get(pk=patient.pk)])
    before = _snapshot(patient)
    assert before["tier"][0] == "very_high"

    assert _round_trip(patient, api) == before
