"""The patient's one-time lesion report link, on a phone-sized screen."""

import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from surveillance.models import LesionPhoto, LesionReport, ReportLink
from tests.factories import CohortFactory, PatientFactory

pytestmark = pytest.mark.browser

SCREENS = Path("/tmp/screens")
PHONE = {"width": 390, "height": 844}


def ensure_default_protocol() -> None:
    """The data migration's protocol: a `transactional_db` flush of an earlier test drops it."""
    migration = importlib.import_module("scheduling.migrations.0001_initial")
    migration.load_default_protocol(apps, None)


@pytest.fixture
def link(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_default_protocol()
    cohort = CohortFactory(name="Cohort A", site="North Hospital")
    patient = PatientFactory(cohort=cohort, first_name="Rosalind", last_name="Example")
    return ReportLink.objects.create(
        patient=patient, expires_at=timezone.now() + timedelta(hours=72)
    )


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def test_it_takes_a_report_with_a_photo_on_a_phone(phone_page, live_server, link, tmp_path):
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    photo = tmp_path / "spot.png"
    Image.new("RGB", (320, 240), (200, 110, 120)).save(photo, "PNG")

    page.goto(f"{live_server.url}/r/{link.nonce}/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Tell us about a change in your skin")
    expect(page.locator(".patient-bar")).to_have_text("Your care team at North Hospital")
    expect(page.get_by_text("Rosalind")).to_have_count(0)
    where = page.get_by_role("group", name="Where is it?")
    where.get_by_label("Near my scar").check()
    page.get_by_role("group", name="How does it feel when you touch it?").get_by_label(
        "A firm bump or lump"
    ).check()
    page.get_by_role("group", name="Does it itch?").get_by_label("Yes").check()
    page.get_by_label("Anything else you want to tell us?").fill("Noticed it last week.")
    page.get_by_label("Photos (optional)").set_input_files(str(photo))
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / "lesion-form.png", full_page=True)

    page.get_by_role("button", name="Send to my care team").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page).to_have_url(f"{live_server.url}/r/{link.nonce}/thanks/")
    page.screenshot(path=SCREENS / "lesion-form-thanks.png", full_page=True)
    assert errors == []
    report = LesionReport.objects.get(patient=link.patient)
    assert report.channel == "web" and report.complete is False
    assert report.answers == {"location": "near_scar", "feel": "firm_lump", "itch": "yes"}
    assert report.note == "Noticed it last week."
    assert LesionPhoto.objects.get(report=report).content_type == "image/png"

    page.goto(f"{live_server.url}/r/{link.nonce}/")
    expect(page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()


def test_it_explains_a_refused_photo_and_keeps_the_answers(phone_page, live_server, link, tmp_path):
    page = phone_page
    fake = tmp_path / "rash.jpg"
    fake.write_text("not a photo\n" * 10)

    page.goto(f"{live_server.url}/r/{link.nonce}/")
    page.get_by_role("group", name="Where is it?").get_by_label("On my chest").check()
    page.get_by_label("Photos (optional)").set_input_files(str(fake))
    page.get_by_role("button", name="Send to my care team").click()

    expect(page.get_by_role("alert").first).to_contain_text("Please check the form")
    expect(page.get_by_text("“rash.jpg” is not a photo we can open")).to_be_visible()
    expect(
        page.get_by_role("group", name="Where is it?").get_by_label("On my chest")
    ).to_be_checked()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / "lesion-form-error.png", full_page=True)
    assert LesionReport.objects.count() == 0
    link.refresh_from_db()
    assert link.used_at is None
