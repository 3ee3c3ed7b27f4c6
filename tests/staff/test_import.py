"""Bulk import in the browser: preview with each row's errors, confirm, a task enrols."""

import csv
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.test import Client

from audit.models import AuditEvent
from cohorts import patient_import
from cohorts.models import Patient
from staff import import_runs
from staff.models import PatientImport
from staff.tasks import run_patient_import
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]
COLUMNS = ["first_name", "last_name", "date_of_birth", "mrn", "phone", "treatment_end_date", "her2"]


def csv_file(*rows, name="patients.csv") -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return SimpleUploadedFile(name, out.getvalue().encode(), content_type="text/csv")


def person(n: int, **changes) -> list[str]:
    values = {
        "first_name": f"New{n}",
        "last_name": "Import",
        "date_of_birth": "1966-03-02",
        "mrn": f"WEB-{n:04d}",
        "phone": f"+1 201 555 {100 + n:04d}",
        "treatment_end_date": "2026-01-15",
        "her2": "positive",
    }
    values.update(changes)
    return [values[column] for column in COLUMNS]


@pytest.fixture
def client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    """The task's wake-ups, kept (the task itself is run by the test)."""
    sent = []
    monkeypatch.setattr(run_patient_import, "delay", sent.append)
    return sent


@time_machine.travel("2026-06-02 14:00Z")
def test_a_file_with_bad_rows_is_previewed_and_only_its_valid_rows_enrolled_on_request(
    client, cohort_a, queued_tasks, django_capture_on_commit_callbacks
):
    upload = csv_file(person(1), person(2, phone="not a phone"), person(3, mrn=""))

    response = client.post("/staff/import/", {"cohort": cohort_a.pk, "file": upload})

    job = PatientImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/staff/import/{job.pk}/"
    preview = client.get(f"/staff/import/{job.pk}/").content.decode()
    assert "1 can be enrolled" in preview
    assert "row 3: phone" in preview and "row 4: mrn: This field is required." in preview
    assert "New1" in preview and not Patient.objects.exists()

    assert client.post(f"/staff/import/{job.pk}/start/").status_code == 400  # all or nothing
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/staff/import/{job.pk}/start/", {"valid_only": "yes"})
    assert queued_tasks == [job.pk]

    assert import_runs.run(job.pk) == "done"
    assert import_runs.run(job.pk) == "not runnable"  # a second wake-up changes nothing
    job.refresh_from_db()
    assert (job.status, job.accepted, len(job.refused)) == ("done", 1, 2)
    assert job.text == ""  # the file named patients: not kept once imported
    assert Patient.objects.get().risk_tier == "high"
    imported = AuditEvent.objects.get(action="import", object_type="patient_import")
    assert (imported.username, imported.object_id) == ("alice", job.digest)
    assert imported.reason == f"cohort {cohort_a.pk}: 1 accepted, 2 refused"
    done = client.get(f"/staff/import/{job.pk}/progress/").content.decode()
    assert "Done: 1 patient enrolled and planned" in done
    # As the command says it: which zones the patients were given.
    said = f"Time zones: {Patient.objects.get().timezone}=1; 1 rows gave no zone and took the"
    assert job.summary.startswith(said) and said in done


@time_machine.travel("2026-06-02 14:00Z")
def test_a_patient_enrolled_since_the_preview_stops_an_all_or_nothing_import(client, cohort_a):
    client.post("/staff/import/", {"cohort": cohort_a.pk, "file": csv_file(person(1), person(2))})
    job = PatientImport.objects.get()
    client.post(f"/staff/import/{job.pk}/start/")
    PatientFactory(cohort=cohort_a, mrn="WEB-0002")

    assert import_runs.run(job.pk) == "failed"

    job.refresh_from_db()
    assert "nothing was imported" in job.problem
    assert not Patient.objects.filter(mrn="WEB-0001").exists()
    # Audited as a successful import is: who, which file, what was accepted and refused.
    [failed] = AuditEvent.objects.filter(action="import")
    assert (failed.username, failed.object_type, failed.object_id) == (
        "alice",
        "patient_import",
        job.digest,
    )
    assert failed.reason == f"cohort {cohort_a.pk}: 0 accepted, 1 refused; failed: rows invalid now"


@time_machine.travel("2026-06-02 14:00Z")
def test_an_import_the_database_refuses_is_audited_too(client, cohort_a, monkeypatch):
    client.post("/staff/import/", {"cohort": cohort_a.pk, "file": csv_file(person(1))})
    job = PatientImport.objects.get()
    client.post(f"/staff/import/{job.pk}/start/")

    def refuse(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(patient_import, "enrol", refuse)

    assert import_runs.run(job.pk) == "failed"
    [failed] = AuditEvent.objects.filter(action="import")
    assert (failed.username, failed.object_id) == ("alice", job.digest)
    assert failed.reason == (
        f"cohort {cohort_a.pk}: 0 accepted, 0 refused; failed: the database refused it"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"name,mrn\nAda,1\n", "Bad header line"),
        ("first_name\n\u00e9".encode("latin-1"), "not UTF-8"),
        (b"", "The file is empty"),
    ],
)
def test_a_file_that_is_not_a_patient_list_is_refused_and_nothing_is_kept(
    client, cohort_a, content, says
):
    upload = SimpleUploadedFile("bad.csv", content, content_type="text/csv")

    response = client.post("/staff/import/", {"cohort": cohort_a.pk, "file": upload})

    assert response.status_code == 400
    assert says in response.content.decode()
    assert not PatientImport.objects.exists()


def test_an_import_is_its_uploaders_alone(client, alice, bob, cohort_a, cohort_b):
    client.post("/staff/import/", {"cohort": cohort_a.pk, "file": csv_file(person(1))})
    job = PatientImport.objects.get()
    other = Client()
    other.force_login(bob)

    assert other.get(f"/staff/import/{job.pk}/").status_code == 404
    assert other.post(f"/staff/import/{job.pk}/start/").status_code == 404
    assert (
        client.post(
            "/staff/import/", {"cohort": cohort_b.pk, "file": csv_file(person(2))}
        ).status_code
        == 400
    )
