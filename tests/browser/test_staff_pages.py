"""The staff pages in headless Chromium: a coordinator's day, accessibility, screenshots.

axe-core (from the npm registry, `make axe`) is loaded into every page: no
serious or critical violation is allowed. Screenshots of every page, on a
laptop and a tablet, are saved under var/screenshots/ with the test output.
"""

import json
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from cohorts import site_days
from notifications import inbound
from scheduling.models import Visit
from surveillance import lesions
from surveillance.models import Flag
from tests.factories import CohortFactory, PatientFactory, UserFactory
from tests.integration.sms_world import ensure_default_protocol

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
SCREENS = {"laptop": {"width": 1280, "height": 800}, "tablet": {"width": 768, "height": 1024}}
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}


def received(number: str, body: str) -> None:
    from django.db import transaction

    message, _ = inbound.store(f"SMbrowser{number[-4:]}{len(body)}", number, "+12025550100", body)
    with transaction.atomic():
        inbound.route(message.pk)


@pytest.fixture
def clinic(transactional_db):
    """Carol coordinates cohort North (a flag, a message, an overdue visit); South is not hers."""
    ensure_default_protocol()
    carol = UserFactory(username="carol", role="coordinator")
    carol.set_password(PASSWORD)
    carol.save()
    north = CohortFactory(name="North", timezone="America/New_York", coordinators=[carol])
    south = CohortFactory(name="South", timezone="America/New_York")
    ada = PatientFactory(cohort=north, first_name="Ada", last_name="Lovelace", tier="high")
    grace = PatientFactory(cohort=north, first_name="Grace", last_name="Hopper")
    stranger = PatientFactory(cohort=south, first_name="Sam", last_name="Stranger")
    lesions.record_report(ada, "staff", RED_FLAGS)
    lesions.record_report(stranger, "staff", RED_FLAGS)
    received(grace.phone, "Can I move my appointment to Friday?")
    today = site_days.today(north)
    visit = grace.visits.filter(status=Visit.Status.PLANNED).order_by("due_date").first()
    visit.window_start, visit.window_end = today - timedelta(days=30), today - timedelta(days=2)
    visit.due_date = today - timedelta(days=10)
    visit.save()
    return {"carol": carol, "ada": ada, "grace": grace, "stranger": stranger, "north": north}


def sign_in(page, live_server, username="carol"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in json.loads(result)["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shoot(page, name: str, screen: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{screen}.png"), full_page=True)


def test_a_coordinator_works_the_today_list_in_her_cohort_only(page, live_server, clinic):
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/staff/")

    flags = page.locator("#section-flags")
    expect(flags.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_text("Sam Stranger")).to_have_count(0)

    flags.get_by_role("button", name=re.compile("Acknowledge")).first.click()
    expect(flags.get_by_text("Acknowledged")).to_be_visible()
    assert Flag.objects.get(patient=clinic["ada"]).status == "acknowledged"

    visits = page.locator("#section-visits")
    row = visits.locator("tr").filter(has_text="Grace Hopper").first
    row.get_by_label(re.compile("Appointment for Grace Hopper")).fill("2030-01-15T09:30")
    row.get_by_role("button", name=re.compile("Book")).click()
    expect(visits.get_by_text("Booked for Grace Hopper")).to_be_visible()
    assert clinic["grace"].visits.filter(status="booked").exists()


def test_an_inbox_message_is_answered_through_the_outbox(page, live_server, clinic):
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/staff/inbox/")

    page.get_by_label("Reply to Grace").fill("Yes: Friday at 10:00 works.")
    page.get_by_role("button", name="Send the reply").click()

    expect(page.get_by_text("The inbox is empty.")).to_be_visible()
    assert clinic["grace"].messages.filter(kind="reply", direction="outbound").exists()


def test_a_new_urgent_flag_appears_on_today_without_a_reload(page, live_server, clinic, settings):
    settings.STAFF_REFRESH_SECONDS = 1
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/staff/")
    grace = page.locator("#section-flags").get_by_role("link", name="Grace Hopper")
    expect(grace).to_have_count(0)

    lesions.record_report(clinic["grace"], "staff", RED_FLAGS)

    expect(grace).to_be_visible()


def test_the_first_flag_is_acknowledged_by_keyboard_alone(page, live_server, clinic):
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/staff/")

    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        if focused.startswith("Acknowledge"):
            break
    else:
        pytest.fail("Tab never reached an Acknowledge button")
    page.keyboard.press("Enter")

    expect(page.locator("#section-flags").get_by_text("Acknowledged")).to_be_visible()


def visit_each(browser, live_server, screen: str, paths: dict, look, **options) -> dict:
    """Sign in a fresh context of this screen's size, open each page, `look(page, name)`;
    also returns the console's errors under "console"."""
    context = browser.new_context(viewport=SCREENS[screen], **options)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    found = {"console": errors}
    try:
        sign_in(page, live_server)
        for name, path in paths.items():
            page.goto(live_server.url + path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            found[name] = look(page, name)
    finally:
        context.close()
    return found


@pytest.mark.parametrize("screen", SCREENS)
def test_every_staff_page_passes_axe_and_is_photographed(browser, live_server, clinic, screen):
    flag = Flag.objects.get(patient=clinic["ada"])
    paths = {
        "today": "/staff/",
        "flag": f"/staff/flags/{flag.pk}/",
        "inbox": "/staff/inbox/",
        "timeline": f"/staff/patients/{clinic['ada'].pk}/",
        "calendar-feed": "/staff/calendar-feed/",
        "dashboard": "/staff/dashboard/",
        "calendar-week": "/staff/calendar/",
        "calendar-month": "/staff/calendar/?view=month",
        "calendar-day": f"/staff/calendar/{site_days.today(clinic['north'])}/",
        "phone-simulator": f"/staff/phone/?patient={clinic['grace'].pk}",
        "import": "/staff/import/",
        "enrol": "/staff/patients/new/",
        "edit": f"/staff/patients/{clinic['ada'].pk}/edit/",
    }

    def photographed(page, name) -> int:
        shoot(page, name, screen)
        return page.evaluate("document.documentElement.scrollWidth")

    seen = visit_each(browser, live_server, screen, paths, photographed)
    # axe is injected as an inline script, which our CSP rightly refuses: a context that
    # bypasses CSP runs it (the context above saw the pages under the real policy).
    found = visit_each(
        browser, live_server, screen, paths, lambda page, _: serious_violations(page),
        bypass_csp=True,
    )  # fmt: skip

    assert found == {"console": [], **{name: [] for name in paths}}
    assert seen.pop("console") == []  # under the real CSP: nothing refused, no script error
    width = SCREENS[screen]["width"]
    assert seen == dict.fromkeys(paths, width)  # nothing wider than the screen


def test_a_csv_import_is_previewed_confirmed_and_watched_to_the_end(
    page, live_server, clinic, celery_worker, monkeypatch, tmp_path
):
    from staff.tasks import run_patient_import

    # The shared test worker listens on a queue of its own.
    monkeypatch.setattr(
        run_patient_import,
        "delay",
        lambda *args: run_patient_import.apply_async(args, queue=celery_worker.queue),
    )
    upload = tmp_path / "patients.csv"
    upload.write_text(
        "first_name,last_name,date_of_birth,mrn,phone,treatment_end_date\n"
        + "".join(
            f"Web{n},Import,1961-05-0{n},WEB-{n},+1 201 555 01{60 + n},2026-01-15\n"
            for n in range(1, 4)
        )
    )
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/staff/import/")

    page.get_by_label("Into the cohort").select_option(label="North (General Hospital)")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("3 can be enrolled")).to_be_visible()
    shoot(page, "import-preview", "laptop")
    page.get_by_role("button", name="Enrol all 3 patients").click()

    expect(
        page.get_by_role("heading", name="Done: 3 patients enrolled and planned")
    ).to_be_visible()
    shoot(page, "import-done", "laptop")
    assert clinic["north"].patients.filter(mrn__startswith="WEB-").count() == 3


def test_a_lead_resolves_a_flag_the_dashboard_follows_and_a_days_clinic_is_booked(
    page, live_server, clinic
):
    lead = UserFactory(username="lena", role="clinical_lead")
    lead.set_password(PASSWORD)
    lead.save()
    clinic["north"].clinical_leads.add(lead)
    flag = Flag.objects.get(patient=clinic["ada"])
    sign_in(page, live_server, "lena")

    def dashboard_figure(title: str) -> str:
        page.goto(f"{live_server.url}/staff/dashboard/?fresh=1")
        column = page.locator("table.figures").first.locator("thead th").all_inner_texts()
        row = page.locator("table.figures").first.locator("tbody tr").first
        # The figure, without the screen readers' words after it ("1 in North").
        return row.locator("th, td").nth(column.index(title)).inner_text().split()[0]

    assert dashboard_figure("Flags open") == "1"
    page.goto(f"{live_server.url}/staff/flags/{flag.pk}/")
    page.get_by_label("Outcome").select_option(label="Benign / seen, no action")
    page.get_by_label("Note (optional)").fill("Seen on video: a bruise.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("heading", name="Urgent flag, resolved")).to_be_visible()
    assert dashboard_figure("Flags open") == "0"

    day = site_days.today(clinic["north"])
    visit = clinic["ada"].visits.filter(status="planned").order_by("window_start").first()
    Visit.objects.filter(pk=visit.pk).update(
        window_start=day - timedelta(days=3), due_date=day, window_end=day + timedelta(days=10)
    )  # due today: on today's page of the calendar
    page.goto(f"{live_server.url}/staff/calendar/{day}/")
    page.get_by_label("First appointment (site time)").fill("16:00")
    page.get_by_role("button", name="Book them").click()
    expect(page.get_by_role("heading", name=re.compile("Booked 1"))).to_be_visible()
    visit.refresh_from_db()
    assert visit.status == "booked"
    assert timezone.localtime(visit.booked_at, ZoneInfo("America/New_York")).hour == 16
