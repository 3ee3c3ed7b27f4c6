"""Every successful read and write of a patient's record through the API is audited."""

from datetime import date

import pytest
import time_machine
from rest_framework.pagination import PageNumberPagination

from audit.models import AuditEvent
from tests.api.test_patients import patient_payload
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def patient(cohort_a):
    with time_machine.travel("2026-02-01 12:00Z"):
        return PatientFactory(cohort=cohort_a, tier="high", treatment_end_date=date(2026, 1, 15))


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_it_records_a_retrieve(api, alice, patient):
    response = api(alice).get(f"/api/v1/patients/{patient.pk}/")

    assert response.status_code == 200
    [event] = events()
    assert event.action == "view"
    assert event.user_id == alice.pk
    assert event.username == "alice"
    assert event.patient_id == patient.pk
    assert (event.object_type, event.object_id) == ("patient", str(patient.pk))
    assert event.method == "GET"
    assert event.path == f"/api/v1/patients/{patient.pk}/"
    assert event.reason == "api:patient-detail retrieve"
    assert event.at is not None


def test_it_records_a_listed_page_as_one_row_with_its_patients(
    api, alice, cohort_a, cohort_b, monkeypatch
):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    with time_machine.travel("2026-02-01 12:00Z"):
        mine = [PatientFactory(cohort=cohort_a) for _ in range(3)]
        PatientFactory(cohort=cohort_b)

    response = api(alice).get("/api/v1/patients/")

    assert response.status_code == 200
    shown = [row["id"] for row in response.json()["results"]]
    assert len(shown) == 2
    [listed] = AuditEvent.objects.all()
    assert listed.action == "list"
    assert (listed.object_type, listed.reason) == ("patient", "api:patient-list list")
    assert listed.patient_ids == sorted(shown)
    assert listed.object_ids == [str(pk) for pk in shown]
    assert listed.patient_id is None
    assert set(shown) <= {patient.pk for patient in mine}
    for pk in shown:
        assert list(AuditEvent.objects.about(pk)) == [listed]
    (unshown,) = {patient.pk for patient in mine} - set(shown)
    assert not AuditEvent.objects.about(unshown).exists()


def test_it_records_nothing_for_an_empty_list(api, bob, cohort_b):
    assert api(bob).get("/api/v1/patients/").status_code == 200
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("what", ["risk", "schedule"])
def test_it_records_risk_and_schedule_reads(api, alice, patient, what):
    response = api(alice).get(f"/api/v1/patients/{patient.pk}/{what}/")

    assert response.status_code == 200
    [event] = events()
    assert (event.action, event.object_type, event.patient_id) == ("view", what, patient.pk)
    assert event.reason == f"api:patient-{what} {what}"


@time_machine.travel("2026-01-10 12:00Z")
def test_it_records_a_create(api, alice, cohort_a):
    response = api(alice).post("/api/v1/patients/", patient_payload(cohort_a), format="json")

    assert response.status_code == 201, response.json()
    [event] = events()
    assert event.action == "create"
    assert event.patient_id == response.json()["id"]
    assert event.method == "POST"


@time_machine.travel("2026-01-10 12:00Z")
def test_it_records_nothing_for_a_refused_create(api, alice, cohort_a):
    payload = patient_payload(cohort_a, phone="not a phone")

    assert api(alice).post("/api/v1/patients/", payload, format="json").status_code == 400
    assert AuditEvent.objects.count() == 0


def test_it_records_an_update(api, alice, patient):
    response = api(alice).patch(
        f"/api/v1/patients/{patient.pk}/", {"reminder_time": "11:00"}, format="json"
    )

    assert response.status_code == 200, response.json()
    [event] = events()
    assert (event.action, event.patient_id, event.method) == ("update", patient.pk, "PATCH")
    assert event.reason == "api:patient-detail partial_update"


def test_a_probe_of_another_cohorts_patient_is_recorded_as_denied(api, bob, cohort_b, patient):
    client = api(bob)
    visit = patient.visits.first()

    assert client.get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    assert client.get(f"/api/v1/patients/{patient.pk}/risk/").status_code == 404
    assert client.patch(f"/api/v1/patients/{patient.pk}/", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/visits/{visit.pk}/").status_code == 404
    assert client.get("/api/v1/patients/987654321/").status_code == 404

    probes = events()
    assert {event.action for event in probes} == {"denied"}
    assert [(event.object_type, event.object_id, event.patient_id) for event in probes] == [
        ("patient", str(patient.pk), patient.pk),
        ("patient", str(patient.pk), patient.pk),
        ("patient", str(patient.pk), patient.pk),
        ("visit", str(visit.pk), patient.pk),
        ("patient", "987654321", None),
    ]
    assert {event.username for event in probes} == {bob.username}


def test_a_write_and_its_audit_row_commit_together(api, alice, patient, monkeypatch):
    from audit import mixins

    def refuse(*args, **kwargs):
        raise RuntimeError("the audit table refused the row")

    monkeypatch.setattr(mixins, "record_rows", refuse)
    client = api(alice)
    client.raise_request_exception = False

    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"language": "es"}, format="json")

    assert response.status_code == 500
    patient.refresh_from_db()
    assert patient.language == "en"


@time_machine.travel("2026-04-01 12:00Z")
def test_it_records_a_visit_read_and_booking_against_the_patient(api, alice, patient):
    visit = patient.visits.filter(kind="clinic").order_by("due_date").first()
    client = api(alice)

    assert client.get(f"/api/v1/visits/{visit.pk}/").status_code == 200
    booked = client.post(
        f"/api/v1/visits/{visit.pk}/book/",
        {"booked_at": "2026-04-14T09:00:00Z", "location": "Clinic 2"},
    )

    assert booked.status_code == 200, booked.json()
    viewed, updated = events()
    assert (viewed.action, viewed.object_type, viewed.object_id) == ("view", "visit", str(visit.pk))
    assert (updated.action, updated.object_type) == ("update", "visit")
    assert updated.patient_id == patient.pk
    assert updated.object_id == str(visit.pk)
    assert updated.reason == "api:visit-book book"


def test_it_records_nothing_for_a_bad_or_impossible_visit_action(api, alice, patient):
    visit = patient.visits.filter(kind="clinic").order_by("due_date").first()
    client = api(alice)

    assert client.post(f"/api/v1/visits/{visit.pk}/book/", {"booked_at": "soon"}).status_code == 400
    assert client.post(f"/api/v1/visits/{visit.pk}/cancel/").status_code == 200
    assert client.post(f"/api/v1/visits/{visit.pk}/complete/").status_code == 409

    [event] = events()
    assert event.reason == "api:visit-cancel cancel"


def test_it_records_a_list_of_one_patients_visits_as_theirs(api, alice, patient):
    response = api(alice).get(f"/api/v1/visits/?patient={patient.pk}")

    assert response.status_code == 200
    shown = [row["id"] for row in response.json()["results"]]
    [listed] = events(action="list")
    assert listed.object_ids == [str(pk) for pk in shown]
    assert (listed.patient_id, listed.patient_ids) == (patient.pk, [patient.pk])


def test_it_records_the_client_address_from_remote_addr_only(api, alice, patient):
    """From a peer that is not a trusted proxy, X-Forwarded-For is the client's own say."""
    response = api(alice).get(
        f"/api/v1/patients/{patient.pk}/",
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.51.100.66",
    )

    assert response.status_code == 200
    [event] = events()
    assert event.ip_address == "203.0.113.7"


def test_it_does_not_audit_cohorts(api, alice, cohort_a):
    assert api(alice).get("/api/v1/cohorts/").status_code == 200
    assert AuditEvent.objects.count() == 0


def test_behind_a_trusted_proxy_it_records_the_forwarded_client(api, alice, patient, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    api(alice).get(
        f"/api/v1/patients/{patient.pk}/",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.66",
    )

    [event] = events()
    assert event.ip_address == "198.51.100.66"
