"""Enrolling and editing a patient in the browser: the API's serializer decides."""

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEvent
from cohorts.models import Patient
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]
FORM = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "date_of_birth": "1966-03-02",
    "mrn": "WEB-77",
    "phone": "+1 201 555 0177",
    "language": "en",
    "reminder_time": "09:30",
    "her2": "positive",
    "er": "negative",
    "pr": "negative",
    "treatment_end_date": "2026-01-15",
    "sms_consent": "on",
}


@pytest.fixture
def client(alice):
    client = Client()
    client.force_login(alice)
    return client


@time_machine.travel("2026-06-02 14:00Z")
def test_a_patient_enrolled_in_the_browser_is_planned_and_audited(client, cohort_a):
    response = client.post("/staff/patients/new/", {**FORM, "cohort": cohort_a.pk})

    patient = Patient.objects.get(mrn="WEB-77")
    assert response.status_code == 302 and response["Location"] == f"/staff/patients/{patient.pk}/"
    assert patient.risk_tier == "high" and patient.visits.exists()
    assert patient.contact.number == "+12015550177" and patient.contact.sms_consent
    assert AuditEvent.objects.filter(
        action="create", object_type="patient", patient=patient
    ).exists()


@time_machine.travel("2026-06-02 14:00Z")
def test_the_apis_errors_come_back_next_to_their_fields_and_nothing_is_saved(client, cohort_a):
    PatientFactory(cohort=cohort_a, mrn="WEB-77")

    bad_fields = client.post(
        "/staff/patients/new/", {**FORM, "cohort": cohort_a.pk, "phone": "12", "her2": "maybe"}
    )
    taken = client.post("/staff/patients/new/", {**FORM, "cohort": cohort_a.pk})

    page = bad_fields.content.decode()
    assert bad_fields.status_code == 400
    assert 'id="e-phone"' in page and 'id="e-her2"' in page
    assert taken.status_code == 400 and 'id="e-mrn"' in taken.content.decode()
    assert Patient.objects.filter(mrn="WEB-77").count() == 1


def test_another_cohort_is_refused_as_the_api_refuses_it(client, cohort_a, cohort_b):
    response = client.post("/staff/patients/new/", {**FORM, "cohort": cohort_b.pk})

    assert response.status_code == 400
    assert not Patient.objects.filter(mrn="WEB-77").exists()


@time_machine.travel("2026-06-02 14:00Z")
def test_an_edit_reassesses_and_replans_as_the_api_does(client, cohort_a, bob, cohort_b):
    patient = PatientFactory(cohort=cohort_a, tier="standard")
    form = client.get(f"/staff/patients/{patient.pk}/edit/").content.decode()
    assert f'value="{patient.mrn}"' in form

    response = client.post(
        f"/staff/patients/{patient.pk}/edit/",
        {**FORM, "mrn": patient.mrn, "phone": patient.phone, "her2": "positive"},
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.risk_tier == "high"
    stranger = Client()
    stranger.force_login(bob)
    assert stranger.get(f"/staff/patients/{patient.pk}/edit/").status_code == 404
