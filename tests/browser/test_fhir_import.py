"""An EHR's FHIR bundle through the staff web's import, in headless Chromium."""

import copy
import json

import pytest
from playwright.sync_api import expect

from cohorts.models import Patient
from staff.models import PatientImport
from tests.fhir.helpers import bundle, resource

from .test_staff_pages import (  # noqa: F401 (clinic is a fixture)
    SCREENS,
    clinic,
    serious_violations,
    shoot,
    sign_in,
    visit_each,
)


def upload_bundle(page, live_server, path) -> None:
    page.goto(f"{live_server.url}/staff/import/")
    page.get_by_label("Into the cohort").select_option(label="North (General Hospital)")
    page.get_by_label("CSV file or FHIR bundle").set_input_files(str(path))
    page.get_by_role("button", name="Check the file").click()


@pytest.mark.usefixtures("clinic")  # Carol coordinates North
def test_a_bundle_is_previewed_enrolled_and_its_problems_shown(
    page, browser, live_server, celery_worker, monkeypatch, tmp_path
):
    from staff.tasks import run_patient_import

    monkeypatch.setattr(
        run_patient_import,
        "delay",
        lambda *args: run_patient_import.apply_async(args, queue=celery_worker.queue),
    )
    good, broken = tmp_path / "ehr-export.json", tmp_path / "ehr-broken.json"
    good.write_text(json.dumps(bundle()))
    bad = copy.deepcopy(bundle())
    resource(bad, "Patient")["birthDate"] = "12/04/1968"
    broken.write_text(json.dumps(bad))
    sign_in(page, live_server)

    upload_bundle(page, live_server, broken)
    expect(page.get_by_text("The bundle cannot be imported")).to_be_visible()
    expect(page.get_by_text("Bundle.entry[0].resource.birthDate")).to_be_visible()
    shoot(page, "fhir-import-refused", "laptop")
    upload_bundle(page, live_server, good)
    expect(page.get_by_text("every one can be enrolled or updated")).to_be_visible()
    shoot(page, "fhir-import-preview", "laptop")
    page.get_by_role("button", name="Enrol all 1 patient").click()

    expect(
        page.get_by_role("heading", name="Done: 1 patient enrolled or updated and planned")
    ).to_be_visible()
    shoot(page, "fhir-import-done", "laptop")
    assert Patient.objects.get(mrn="FHIR-0001").risk_tier == "high"
    jobs = {job.filename: f"/staff/import/{job.pk}/" for job in PatientImport.objects.all()}
    for screen in SCREENS:
        found = visit_each(
            browser, live_server, screen, jobs, lambda p, _: serious_violations(p),
            bypass_csp=True,
        )  # fmt: skip
        assert found == {"console": [], **{name: [] for name in jobs}}, screen
