"""An EHR's FHIR bundle through the staff web's import: a dry-run preview, then a task."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from cohorts.models import Patient
from staff import import_runs
from staff.models import PatientImport
from staff.tasks import run_patient_import

from .helpers import as_bytes, bundle, marker, resource, session_for


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    sent = []
    monkeypatch.setattr(run_patient_import, "delay", sent.append)
    return sent


def upload(client, cohort, data: dict):
    file = SimpleUploadedFile("ehr-export.json", as_bytes(data), "application/fhir+json")
    return client.post("/staff/import/", {"cohort": cohort.pk, "file": file})


def test_a_bundle_is_previewed_by_a_dry_run_then_enrolled_by_the_task(
    cohort_a, alice, queued_tasks, django_capture_on_commit_callbacks
):
    client = session_for(alice)

    response = upload(client, cohort_a, bundle())

    job = PatientImport.objects.get()
    assert response.status_code == 302 and job.kind == "fhir"
    preview = client.get(f"/staff/import/{job.pk}/").content.decode()
    assert "A FHIR R4 bundle of 1 patient" in preview and "FHIR-0001" in preview
    assert not Patient.objects.exists()
    assert not AuditEvent.objects.filter(action="import").exists()  # the dry run kept nothing
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/staff/import/{job.pk}/start/")
    assert queued_tasks == [job.pk]

    assert import_runs.run(job.pk) == "done"

    job.refresh_from_db()
    assert (job.accepted, job.summary) == (
        1,
        "1 enrolled, 0 updated, 0 unchanged, 0 left (older bundle)",
    )
    assert Patient.objects.get().risk_tier == "high"
    done = client.get(f"/staff/import/{job.pk}/progress/").content.decode()
    assert "Done: 1 patient enrolled or updated and planned" in done


def test_a_bundle_with_problems_shows_each_and_cannot_be_started(cohort_a, alice):
    client = session_for(alice)
    data = bundle()
    resource(data, "Patient")["birthDate"] = "12/04/1968"
    marker(data, "85337-4")["effectiveDateTime"] = "last Tuesday"

    upload(client, cohort_a, data)

    job = PatientImport.objects.get()
    page = client.get(f"/staff/import/{job.pk}/").content.decode()
    assert "The bundle cannot be imported" in page
    assert "Bundle.entry[0].resource.birthDate" in page
    assert "Bundle.entry[2].resource.effectiveDateTime" in page
    assert client.post(f"/staff/import/{job.pk}/start/").status_code == 400
    assert client.post(f"/staff/import/{job.pk}/start/", {"valid_only": "yes"}).status_code == 400
    assert PatientImport.objects.get().status == "previewed"


def test_a_bundle_that_became_invalid_since_the_preview_imports_nothing(cohort_a, alice):
    client = session_for(alice)
    upload(client, cohort_a, bundle())
    job = PatientImport.objects.get()
    client.post(f"/staff/import/{job.pk}/start/")
    cohort_a.coordinators.remove(alice)  # no longer hers

    assert import_runs.run(job.pk) == "failed"
    assert not Patient.objects.exists()
    job.refresh_from_db()
    assert job.text == "" and job.refused  # the problems stay, the patients' data goes
