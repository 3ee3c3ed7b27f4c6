"""A cohort's Bulk Data export: kick-off, status, NDJSON files, cancel, expiry."""

import itertools
import json
import time
from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from audit.models import AuditEvent
from cohorts import contacts, services
from cohorts.models import Patient, TumourProfile
from fhir_r4 import bulk_export
from fhir_r4.models import BulkExport
from fhir_r4.tasks import build_bulk_export
from surveillance.demo import PROFILES
from tests.factories import CohortFactory
from tests.integration.sms_world import ensure_default_protocol

from .conftest import TODAY


def enrol(cohort, count: int, batch_size: int = 500) -> None:
    """`count` patients of every kind of profile, enrolled in bulk by the real services."""
    kinds = itertools.cycle(PROFILES.values())
    for start in range(0, count, batch_size):
        patients, profiles, details = [], [], []
        for n in range(start, min(start + batch_size, count)):
            details.append({"number": f"+1{212 + n // 100:03d}55501{n % 100:02d}"})
            patients.append(
                Patient(
                    cohort=cohort,
                    first_name=f"Bulk{n}",
                    last_name="Patient",
                    date_of_birth=date(1960, 1, 1) + timedelta(days=n),
                    mrn=f"BULK{n:06d}",
                    enrolled_on=date(2026, 3, 1),
                )
            )
            profiles.append(TumourProfile(treatment_end_date=date(2026, 1, 15), **next(kinds)))
        contacts.bind(patients, details, default_timezone=cohort.timezone)
        services.enrol(patients, profiles)


@pytest.fixture
def queued(monkeypatch):
    """The ids of the exports the views queued (the test decides where they run)."""
    sent = []
    monkeypatch.setattr(build_bulk_export, "delay", sent.append)
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a view left for after its commit (the test's transaction never commits)."""

    def kick_off_committed(client, cohort, query: str = ""):
        with django_capture_on_commit_callbacks(execute=True):
            return kick_off(client, cohort, query)

    return kick_off_committed


def kick_off(client, cohort, query: str = ""):
    return client.get(f"/fhir/r4/Group/{cohort.pk}/$export{query}", HTTP_PREFER="respond-async")


def status_path(response) -> str:
    return response["Content-Location"].split("testserver", 1)[1]


def read_ndjson(client, url: str) -> list[str]:
    response = client.get(url.split("127.0.0.1:8000", 1)[-1])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    return b"".join(response.streaming_content).decode().splitlines()


@pytest.mark.integration
def test_a_cohort_of_a_thousand_exports_to_files_that_validate(
    transactional_db, celery_worker, alice, api, queued
):
    ensure_default_protocol()
    cohort = CohortFactory(name="Registry", coordinators=[alice])
    enrol(cohort, 1000)
    client = api(alice)

    kicked = kick_off(client, cohort)
    assert kicked.status_code == 202
    waiting = client.get(status_path(kicked))
    assert waiting.status_code == 202 and "0 of 1000 patients" in waiting["X-Progress"]
    build_bulk_export.apply_async(args=queued, queue=celery_worker.queue)
    deadline = time.monotonic() + 600
    while (status := client.get(status_path(kicked))).status_code == 202:
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.5)

    assert status.status_code == 200, status.content
    manifest = json.loads(status.content)
    assert manifest["requiresAccessToken"] is True
    counts = {}
    for output in manifest["output"]:
        model = get_fhir_model_class(output["type"])
        lines = read_ndjson(client, output["url"])
        resources = [model.model_validate_json(line) for line in lines]
        assert len(resources) == output["count"]
        assert len({resource.id for resource in resources}) == len(resources)
        counts[output["type"]] = len(resources)
    assert counts["Patient"] == counts["Condition"] == counts["CarePlan"] == 1000
    assert counts["Observation"] == 3000  # ER, PR and HER2 for each
    assert counts["RiskAssessment"] == 1000
    assert counts["Procedure"] == 1000  # the end of primary treatment (no surgery dates here)


def test_kick_off_needs_respond_async_ndjson_and_known_types(cohort_a, alice, api):
    client = api(alice)
    url = f"/fhir/r4/Group/{cohort_a.pk}/$export"

    assert client.get(url).status_code == 400
    assert kick_off(client, cohort_a, "?_outputFormat=text/csv").status_code == 400
    assert kick_off(client, cohort_a, "?_type=Patient,Starship").status_code == 400
    assert not BulkExport.objects.exists()


def test_another_cohort_or_another_users_export_is_a_404(cohort_a, cohort_b, alice, bob, api):
    assert kick_off(api(bob), cohort_a).status_code == 404
    kicked = kick_off(api(alice), cohort_a)

    assert api(bob).get(status_path(kicked)).status_code == 404
    assert api(bob).delete(status_path(kicked)).status_code == 404
    export = BulkExport.objects.get()
    probes = AuditEvent.objects.filter(action="denied").order_by("pk")
    assert [(e.username, e.object_type, e.object_id) for e in probes] == [
        ("bob", "cohort", str(cohort_a.pk)),
        ("bob", "fhir_bulk_export", str(export.pk)),
        ("bob", "fhir_bulk_export", str(export.pk)),
    ]
    assert export.status != "cancelled"


def test_the_types_can_be_chosen(cohort_a, alice, api, queued, committed):
    enrol(cohort_a, 3)
    client = api(alice)
    kicked = committed(client, cohort_a, "?_type=Patient,Observation")

    bulk_export.run(queued[0])

    manifest = json.loads(client.get(status_path(kicked)).content)
    assert [o["type"] for o in manifest["output"]] == ["Patient", "Observation"]
    assert [o["count"] for o in manifest["output"]] == [3, 9]


def test_a_cancelled_export_is_not_built_and_its_status_is_gone(
    cohort_a, alice, api, queued, committed
):
    enrol(cohort_a, 3)
    client = api(alice)
    kicked = committed(client, cohort_a)

    assert client.delete(status_path(kicked)).status_code == 202
    bulk_export.run(queued[0])

    assert client.get(status_path(kicked)).status_code == 404
    assert BulkExport.objects.get().status == "cancelled"
    assert not bulk_export.export_dir(BulkExport.objects.get()).exists()


def test_a_run_whose_export_was_taken_over_stops_and_removes_its_files(cohort_a, alice, api):
    enrol(cohort_a, 5)
    export = bulk_export.create(cohort_a, alice, "http://x", [], False)
    taken_over = []

    def another_run_starts(*args, **kwargs):
        if not taken_over:
            taken_over.append(BulkExport.objects.filter(pk=export.pk).update(run=None))
        return original(*args, **kwargs)

    original = bulk_export.patient_data.load
    bulk_export.patient_data.load = another_run_starts
    try:
        bulk_export.run(str(export.pk), chunk_size=2)
    finally:
        bulk_export.patient_data.load = original

    export.refresh_from_db()
    assert export.status == "running" and export.patients_done == 0
    assert not any(bulk_export.export_dir(export).glob("*/*.ndjson"))


def test_finished_files_expire(cohort_a, alice, api, queued, committed, settings):
    enrol(cohort_a, 2)
    kicked = committed(api(alice), cohort_a)
    bulk_export.run(queued[0])
    export = BulkExport.objects.get()
    assert bulk_export.file_path(export, "Patient").exists()

    later = timezone.datetime.fromisoformat(TODAY) + timedelta(
        hours=settings.FHIR_EXPORT_TTL_HOURS + 1
    )
    with time_machine.travel(later):
        assert bulk_export.expire() == 1

    assert not bulk_export.export_dir(export).exists()
    assert api(alice).get(status_path(kicked)).status_code == 404


def test_parameters_not_offered_are_refused_not_ignored(cohort_a, alice, api):
    response = kick_off(api(alice), cohort_a, "?_since=2026-01-01T00:00:00Z")

    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_since"]
    assert not BulkExport.objects.exists()


def test_a_file_gone_between_the_check_and_the_read_is_a_404(
    cohort_a, alice, api, queued, committed
):
    import shutil

    enrol(cohort_a, 1)
    client = api(alice)
    kicked = committed(client, cohort_a)
    bulk_export.run(queued[0])
    manifest = json.loads(client.get(status_path(kicked)).content)
    shutil.rmtree(bulk_export.export_dir(BulkExport.objects.get()))

    response = client.get(manifest["output"][0]["url"].split("127.0.0.1:8000", 1)[-1])

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
