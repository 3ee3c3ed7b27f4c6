from datetime import date

import pytest
import time_machine

from cohorts.models import Patient
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


def patient_payload(cohort, **overrides):
    profile = {
        "er": "negative",
        "pr": "negative",
        "her2": "positive",
        "histology": "ductal",
        "stage": "II",
        "surgery_date": "2025-06-01",
        "treatment_end_date": "2025-12-01",
        "prior_recurrence": False,
    }
    profile.update(overrides.pop("profile", {}))
    payload = {
        "cohort": cohort.pk,
        "first_name": "Ana",
        "last_name": "Example",
        "date_of_birth": "1968-04-02",
        "mrn": "A-1001",
        "phone": "(201) 555-0142",
        "timezone": "America/New_York",
        "language": "es",
        "reminder_time": "09:30",
        "sms_consent": True,
        "enrolled_on": "2026-01-10",
        "profile": profile,
    }
    payload.update(overrides)
    return payload


@time_machine.travel("2026-01-10 12:00Z")
def test_it_enrols_a_patient_with_profile_risk_and_schedule(api, alice, cohort_a):
    response = api(alice).post("/api/v1/patients/", patient_payload(cohort_a), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+12015550142"
    assert body["reminder_time"] == "09:30"
    assert body["risk_tier"] == "high"
    assert body["profile"]["her2"] == "positive"
    assert body["sms_consent_at"] is not None
    risk = api(alice).get(f"/api/v1/patients/{body['id']}/risk/").json()
    assert risk["tier"] == "high"
    assert "HER2-positive tumour" in risk["reasons"]
    schedule = api(alice).get(f"/api/v1/patients/{body['id']}/schedule/").json()
    clinic = [v for v in schedule["visits"] if v["kind"] == "clinic"]
    assert clinic[0]["due_date"] == "2026-03-01"
    assert len(clinic) >= 12
    years_1_to_3, after_year_3 = schedule["reminders"]
    assert years_1_to_3["rule"].startswith("FREQ=WEEKLY;INTERVAL=2")
    assert years_1_to_3["next_due_at"] == "2026-01-12T14:30:00Z"
    assert len(years_1_to_3["upcoming"]) == 5
    assert after_year_3["rule"].startswith("FREQ=MONTHLY;INTERVAL=1")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({"phone": "+1 201 555"}, "phone"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"date_of_birth": "1968-02-30"}, "date_of_birth"),
        ({"date_of_birth": "2099-01-01"}, "date_of_birth"),
        ({"language": "fr"}, "language"),
        ({"reminder_time": "25:00"}, "reminder_time"),
        ({"profile": {"her2": "maybe"}}, "profile"),
        ({"profile": {"treatment_end_date": "2025-01-01"}}, "profile"),
        ({"profile": {"treatment_end_date": None}}, "profile"),
    ],
)
def test_it_rejects_invalid_input_with_field_errors_and_writes_nothing(
    api, alice, cohort_a, change, field
):
    response = api(alice).post(
        "/api/v1/patients/", patient_payload(cohort_a, **change), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not Patient.objects.exists()


def test_it_rejects_a_duplicate_mrn_at_the_same_site(api, alice, cohort_a):
    PatientFactory(cohort=cohort_a, mrn="A-1001")

    response = api(alice).post("/api/v1/patients/", patient_payload(cohort_a), format="json")

    assert response.status_code == 400
    assert "mrn" in response.json()


def test_it_refuses_to_enrol_into_another_cohort(api, alice, cohort_b):
    response = api(alice).post("/api/v1/patients/", patient_payload(cohort_b), format="json")

    assert response.status_code == 400
    assert "cohort" in response.json()


def test_it_hides_patients_of_other_cohorts(api, alice, bob, cohort_a, cohort_b):
    mine = PatientFactory(cohort=cohort_a)
    theirs = PatientFactory(cohort=cohort_b)

    listed = api(alice).get("/api/v1/patients/").json()

    assert [p["id"] for p in listed["results"]] == [mine.pk]
    assert api(alice).get(f"/api/v1/patients/{theirs.pk}/").status_code == 404
    assert api(alice).get(f"/api/v1/patients/{theirs.pk}/schedule/").status_code == 404


@time_machine.travel("2026-03-20 12:00Z")
def test_it_reassesses_and_replans_when_the_profile_changes(api, alice, cohort_a):
    patient = PatientFactory(
        cohort=cohort_a,
        tier="standard",
        treatment_end_date=date(2025, 12, 1),
        enrolled_on=date(2026, 1, 1),
    )
    assert patient.risk_tier == "standard"

    response = api(alice).patch(
        f"/api/v1/patients/{patient.pk}/", {"profile": {"her2": "positive"}}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["risk_tier"] == "high"
    assert patient.risk_assessments.count() == 2
    assert patient.profile.history.count() == 2
    upcoming = patient.visits.filter(kind="clinic", status="planned").order_by("due_date")
    assert upcoming.first().due_date == date(2026, 6, 1)


def test_it_paginates_and_filters_patients(api, alice, cohort_a):
    PatientFactory.create_batch(3, cohort=cohort_a, tier="standard")
    PatientFactory(cohort=cohort_a, tier="high")

    body = api(alice).get("/api/v1/patients/", {"risk_tier": "high"}).json()

    assert body["count"] == 1
    assert set(body) >= {"count", "next", "previous", "results"}


@time_machine.travel("2026-01-10 12:00Z")
def test_a_stage_iii_patient_is_followed_as_high_risk_with_the_reason(api, alice, cohort_a):
    payload = patient_payload(
        cohort_a, profile={"er": "positive", "pr": "positive", "her2": "negative", "stage": "III"}
    )

    body = api(alice).post("/api/v1/patients/", payload, format="json").json()

    risk = api(alice).get(f"/api/v1/patients/{body['id']}/risk/").json()
    assert (body["risk_tier"], risk["tier"], risk["rule_version"]) == ("high", "high", "2026.2")
    assert any(reason.startswith("Stage III") for reason in risk["reasons"])


@time_machine.travel("2026-01-10 12:00Z")
def test_a_patient_past_the_protocols_follow_up_is_refused_with_the_reason(api, alice, cohort_a):
    payload = patient_payload(
        cohort_a, profile={"surgery_date": "2014-06-01", "treatment_end_date": "2015-12-01"}
    )

    response = api(alice).post("/api/v1/patients/", payload, format="json")

    assert response.status_code == 400
    [reason] = response.json()["profile"]["treatment_end_date"]
    assert "120-month follow-up" in reason and "2016-01-10" in reason
    assert not Patient.objects.exists()


@time_machine.travel("2026-01-10 12:00Z")
def test_a_patient_near_the_end_of_follow_up_gets_what_is_left_of_the_plan(api, alice, cohort_a):
    payload = patient_payload(
        cohort_a, profile={"surgery_date": "2016-01-01", "treatment_end_date": "2016-03-01"}
    )

    response = api(alice).post("/api/v1/patients/", payload, format="json")

    assert response.status_code == 201, response.json()
    schedule = api(alice).get(f"/api/v1/patients/{response.json()['id']}/schedule/").json()
    assert {visit["due_date"] for visit in schedule["visits"]} == {"2026-03-01"}  # the last


def test_a_patient_whose_follow_up_ended_since_can_still_be_edited(api, alice, cohort_a):
    with time_machine.travel("2026-01-10 12:00Z"):
        patient = PatientFactory(cohort=cohort_a, treatment_end_date=date(2016, 3, 1))

    with time_machine.travel("2026-06-10 12:00Z"):
        response = api(alice).patch(
            f"/api/v1/patients/{patient.pk}/", {"language": "es"}, format="json"
        )

    assert response.status_code == 200, response.json()


@time_machine.travel("2026-01-10 12:00Z")
def test_the_diagnosis_date_is_kept_and_may_not_follow_surgery(api, alice, cohort_a):
    client = api(alice)
    late = patient_payload(cohort_a, profile={"diagnosis_date": "2025-07-01"})

    refused = client.post("/api/v1/patients/", late, format="json")
    kept = client.post(
        "/api/v1/patients/",
        patient_payload(cohort_a, profile={"diagnosis_date": "2025-04-20"}),
        format="json",
    )

    assert refused.status_code == 400
    assert "diagnosis" in str(refused.json()["profile"]["diagnosis_date"])
    assert kept.status_code == 201
    assert kept.json()["profile"]["diagnosis_date"] == "2025-04-20"
