"""Asking the staff pages for another cohort's record: a 404 like a missing one, and the
audit trail keeps the probe, as the API's and the admin's do."""

import uuid

import pytest
import time_machine
from django.db import transaction

from audit.models import AuditEvent
from notifications import inbound
from staff.models import PatientImport
from surveillance import lesions
from surveillance.models import LesionPhoto
from tests.factories import PatientFactory
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
TUESDAY = "2026-06-02 14:00Z"
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}
NOBODY = 987654321  # no record has this id


def inbound_from(patient, body: str):
    message, _ = inbound.store(f"SM{uuid.uuid4().hex}", patient.phone, "+12025550100", body)
    with transaction.atomic():
        inbound.route(message.pk)
    return message


# (method, path with {id}, what the id names)
ROUTES = [
    ("get", "/staff/patients/{id}/", "patient"),
    ("get", "/staff/patients/{id}/edit/", "patient"),
    ("post", "/staff/patients/{id}/edit/", "patient"),
    ("post", "/staff/patients/{id}/pause/", "patient"),
    ("post", "/staff/patients/{id}/check-in/", "patient"),  # looked up inside a transaction
    ("post", "/staff/patients/{id}/withdraw/", "patient"),
    ("post", "/staff/phone/{id}/reply/", "patient"),
    ("get", "/staff/flags/{id}/", "flag"),
    ("post", "/staff/flags/{id}/acknowledge/", "flag"),
    ("post", "/staff/flags/{id}/resolve/", "flag"),
    ("post", "/staff/flags/{id}/urgent-visit/", "flag"),
    ("post", "/staff/flags/{id}/assign/", "flag"),
    ("post", "/staff/visits/{id}/book/", "visit"),
    ("post", "/staff/visits/{id}/complete/", "visit"),
    ("post", "/staff/messages/{id}/review/", "message"),
    ("post", "/staff/messages/{id}/reply/", "message"),
    ("get", "/patients/{id}/lesion-report/", "patient"),
    ("post", "/patients/{id}/lesion-report/", "patient"),
    ("get", "/patients/{patient}/lesion-reports/{id}/", "lesion_report"),
    ("get", "/lesion-photos/{id}/", "lesion_photo"),
]


@time_machine.travel(TUESDAY)
@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
def test_another_cohorts_record_is_a_404_like_none_and_the_probe_is_audited(
    bob, cohort_a, cohort_b, method, path, kind
):
    patient = PatientFactory(cohort=cohort_a, tier="high")
    flag = lesions.record_report(patient, "staff", RED_FLAGS)
    records = {
        "patient": patient,
        "flag": flag,
        "visit": patient.visits.first(),
        "message": inbound_from(patient, "I have a question"),
        "lesion_report": flag.report,
        "lesion_photo": LesionPhoto.objects.create(
            report=flag.report, content_type="image/png", size=1, image="lesion-photos/x.png"
        ),
    }
    theirs = records[kind]
    before = AuditEvent.objects.count()
    client = signed_in(bob)
    path = path.replace("{patient}", str(patient.pk))

    other = getattr(client, method)(path.format(id=theirs.pk), {"note": "x"})
    missing = getattr(client, method)(path.format(id=NOBODY), {"note": "x"})

    assert other.status_code == missing.status_code == 404
    assert other.content == missing.content  # no existence oracle
    probes = AuditEvent.objects.order_by("pk")[before:]
    assert [(e.action, e.username, e.object_type, e.object_id, e.patient_id) for e in probes] == [
        ("denied", "bob", kind, str(theirs.pk), patient.pk),
        ("denied", "bob", kind, str(NOBODY), None),
    ]
    assert {e.path for e in probes} == {
        path.format(id=theirs.pk),
        path.format(id=NOBODY),
    }


def test_another_users_import_is_a_404_and_the_probe_is_audited(alice, bob, cohort_a, cohort_b):
    job = PatientImport.objects.create(
        user=alice, cohort=cohort_a, filename="patients.csv", digest="0" * 64, text="x"
    )
    client = signed_in(bob)

    assert client.get(f"/staff/import/{job.pk}/").status_code == 404
    assert client.post(f"/staff/import/{job.pk}/start/").status_code == 404  # in a transaction

    probes = AuditEvent.objects.order_by("pk")
    assert [(e.action, e.object_type, e.object_id, e.patient_id) for e in probes] == [
        ("denied", "patient_import", str(job.pk), None),
        ("denied", "patient_import", str(job.pk), None),
    ]
    job.refresh_from_db()
    assert job.status == "previewed"


def test_the_users_own_records_leave_no_probe(alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a)

    assert signed_in(alice).get(f"/staff/patients/{patient.pk}/").status_code == 200
    assert not AuditEvent.objects.filter(action="denied").exists()
