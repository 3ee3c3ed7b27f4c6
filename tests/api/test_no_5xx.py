"""Inputs that once answered 500 now get a clear 400 and change nothing."""

import json

import pytest
import time_machine

from cohorts.models import Patient
from surveillance.models import LesionReport
from tests.api.test_patients import patient_payload
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]

PATIENTS = "/api/v1/patients/"


@time_machine.travel("2026-06-01 12:00Z")
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reminders_paused_until": "9999-12-31"}, "reminders_paused_until"),
        ({"enrolled_on": "9999-01-01"}, "enrolled_on"),
        ({"date_of_birth": "0001-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1800-05-05"}, "date_of_birth"),
        ({"profile": {"treatment_end_date": "9999-12-31"}}, "profile"),
        ({"profile": {"treatment_end_date": "2999-01-01"}}, "profile"),
        ({"profile": {"surgery_date": "1066-10-14"}}, "profile"),
    ],
)
def test_implausible_dates_are_field_errors(api, alice, cohort_a, change, field):
    response = api(alice).post(PATIENTS, patient_payload(cohort_a, **change), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert "must be between" in json.dumps(response.json())
    assert not Patient.objects.exists()


def test_a_staff_report_without_answers_or_note_is_a_400(api, alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a)
    client = api(alice)

    empty = client.post("/api/v1/lesion-reports/", {"patient": patient.pk}, format="json")
    noted = client.post(
        "/api/v1/lesion-reports/",
        {"patient": patient.pk, "note": "Called: a new lump, could not say more."},
        format="json",
    )

    assert empty.status_code == 400
    assert "answers" in empty.json()
    assert noted.status_code == 201, noted.json()
    assert LesionReport.objects.get().complete is False


def test_a_deeply_nested_body_is_a_400(api, alice):
    body = "[" * 50_000 + "]" * 50_000

    response = api(alice).generic("POST", PATIENTS, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_an_api_url_no_route_matches_is_a_json_404(api, alice):
    response = api(alice).get("/api/v1/cohorts/0.5/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
