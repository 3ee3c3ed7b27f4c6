"""The admin's patient pages are audited; the trail is browsable by patient and user."""

from datetime import date

import pytest
import time_machine

from audit.models import AuditEvent
from tests.admin_pages import form_data
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def patient(cohort_a):
    with time_machine.travel("2026-02-01 12:00Z"):
        return PatientFactory(cohort=cohort_a, tier="high", treatment_end_date=date(2026, 1, 15))


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_it_records_a_view_of_the_admin_change_page(admin_client, superuser, patient):
    response = admin_client.get(
        f"/admin/cohorts/patient/{patient.pk}/change/", REMOTE_ADDR="192.0.2.10"
    )

    assert response.status_code == 200
    [event] = AuditEvent.objects.all()
    assert (event.action, event.object_type, event.patient_id) == ("view", "patient", patient.pk)
    assert event.user_id == superuser.pk
    assert event.reason == "admin:cohorts_patient_change"
    assert event.ip_address == "192.0.2.10"


def test_a_missing_patient_leaves_only_the_probe(admin_client):
    response = admin_client.get("/admin/cohorts/patient/999999/change/")

    assert response.status_code == 302
    [probe] = AuditEvent.objects.all()
    assert (probe.action, probe.object_id, probe.patient_id) == ("denied", "999999", None)


def test_it_records_the_admin_list_and_history(admin_client, patient):
    assert admin_client.get("/admin/cohorts/patient/").status_code == 200
    assert admin_client.get(f"/admin/cohorts/patient/{patient.pk}/history/").status_code == 200

    listed, history = AuditEvent.objects.order_by("id")
    assert (listed.action, listed.patient_ids) == ("list", [patient.pk])
    assert (history.action, history.object_type) == ("view", "patient_history")
    assert history.patient_id == patient.pk


def test_it_records_a_view_of_a_visit_in_the_admin(admin_client, patient):
    visit = patient.visits.first()

    assert admin_client.get(f"/admin/scheduling/visit/{visit.pk}/change/").status_code == 200
    [event] = AuditEvent.objects.all()
    assert (event.object_type, event.object_id, event.patient_id) == (
        "visit",
        str(visit.pk),
        patient.pk,
    )


def test_it_filters_the_audit_list_by_patient_and_by_user(
    admin_client, superuser, alice, api, cohort_a
):
    with time_machine.travel("2026-02-01 12:00Z"):
        first, second = PatientFactory(cohort=cohort_a), PatientFactory(cohort=cohort_a)
    api(alice).get(f"/api/v1/patients/{first.pk}/")
    api(alice).get(f"/api/v1/patients/{second.pk}/")
    admin_client.get(f"/admin/cohorts/patient/{first.pk}/change/")

    by_patient = admin_client.get(f"/admin/audit/auditevent/?patient__id__exact={first.pk}")
    by_user = admin_client.get(f"/admin/audit/auditevent/?user__id__exact={alice.pk}")
    both = admin_client.get(
        f"/admin/audit/auditevent/?patient__id__exact={first.pk}&user__id__exact={alice.pk}"
    )

    assert by_patient.status_code == by_user.status_code == both.status_code == 200
    assert {e.patient_id for e in by_patient.context["cl"].result_list} == {first.pk}
    assert len(by_patient.context["cl"].result_list) == 2
    assert {e.username for e in by_user.context["cl"].result_list} == {"alice"}
    assert len(by_user.context["cl"].result_list) == 2
    assert [(e.username, e.patient_id) for e in both.context["cl"].result_list] == [
        ("alice", first.pk)
    ]


def test_it_finds_the_lists_a_patient_was_on_by_patient(admin_client, alice, api, cohort_a):
    with time_machine.travel("2026-02-01 12:00Z"):
        first, second = PatientFactory(cohort=cohort_a), PatientFactory(cohort=cohort_a)
    api(alice).get("/api/v1/patients/")
    api(alice).get(f"/api/v1/patients/{second.pk}/")

    response = admin_client.get(f"/admin/audit/auditevent/?patient__id__exact={first.pk}")

    assert response.status_code == 200
    [listed] = response.context["cl"].result_list
    assert (listed.action, listed.patient_ids) == ("list", sorted([first.pk, second.pk]))
    assert b"2 patients" in response.content


def test_it_ignores_a_malformed_filter_value(admin_client):
    response = admin_client.get("/admin/audit/auditevent/?patient__id__exact=x")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_it_keeps_the_audit_admin_read_only(admin_client, alice):
    event = AuditEvent.objects.create(username="alice", action="view", object_type="patient")

    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    page = admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"username": "mallory"})
    assert page.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).username == "alice"


def test_it_hides_the_audit_trail_from_non_admin_staff(client, alice):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)

    assert client.get("/admin/audit/auditevent/").status_code == 403


def test_it_records_an_update_saved_in_the_admin(admin_client, patient):
    url = f"/admin/cohorts/patient/{patient.pk}/change/"
    data = form_data(admin_client.get(url))
    data["first_name"] = "Renamed"

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    patient.refresh_from_db()
    assert patient.first_name == "Renamed"
    viewed, updated = AuditEvent.objects.order_by("id")
    assert viewed.action == "view"
    assert (updated.action, updated.patient_id, updated.method) == ("update", patient.pk, "POST")


def test_the_admin_autocomplete_records_the_patients_it_names(admin_client, patient, cohort_a):
    other = PatientFactory(cohort=cohort_a, last_name="Someone-Else")
    query = {"app_label": "scheduling", "model_name": "visit", "field_name": "patient"}

    found = admin_client.get("/admin/autocomplete/", {**query, "term": patient.last_name})
    nothing = admin_client.get("/admin/autocomplete/", {**query, "term": "no such name"})

    assert found.status_code == nothing.status_code == 200
    assert [row["id"] for row in found.json()["results"]] == [str(patient.pk)]
    assert nothing.json()["results"] == []
    [listed] = AuditEvent.objects.all()  # nothing shown, nothing recorded
    assert (listed.action, listed.object_type) == ("list", "patient")
    assert (listed.patient_ids, listed.object_ids) == ([patient.pk], [str(patient.pk)])
    assert listed.reason == "admin:autocomplete for scheduling.visit.patient"
    assert other.pk not in listed.patient_ids
