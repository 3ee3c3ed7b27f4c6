"""The server-rendered pages, driven through headless Chromium against the live server."""

import re

import pytest
from playwright.sync_api import expect

from notifications.sms_templates import names_a_diagnosis
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple"
API_TITLE = "Skin-surveillance follow-up API"


@pytest.fixture
def coordinator(transactional_db):
    user = UserFactory(username="carol", role="coordinator")
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def collect_console_errors(page):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_home_page_invites_anonymous_users_to_sign_in(page, live_server):
    page.goto(live_server.url + "/")

    expect(page).to_have_title(re.compile("Home"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Follow-up care")
    # Anyone can open this page: it names no diagnosis.
    assert names_a_diagnosis(page.content()) == ""
    expect(page.locator("header.topbar").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name="API documentation")).to_have_count(0)


def test_coordinator_signs_in_and_lands_on_home(page, live_server, coordinator, tmp_path):
    sign_in(page, live_server, "carol", PASSWORD)

    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("header .who")).to_have_text("carol")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    docs = page.get_by_role("link", name=re.compile("API documentation"))
    expect(docs).to_be_visible()
    expect(docs).to_have_attribute("href", "/api/docs/")
    expect(page.get_by_role("link", name="Sign in")).to_have_count(0)

    page.screenshot(path=tmp_path / "home.png", full_page=True)
    assert (tmp_path / "home.png").stat().st_size > 0


def test_wrong_password_shows_error_and_stays_on_login(page, live_server, coordinator, tmp_path):
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=tmp_path / "login.png", full_page=True)
    assert (tmp_path / "login.png").stat().st_size > 0

    sign_in(page, live_server, "carol", "not-the-password")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("alert")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page.get_by_label("Username")).to_have_value("carol")
    expect(page.locator("header .who")).to_have_count(0)
    page.screenshot(path=tmp_path / "login-error.png", full_page=True)


def test_swagger_ui_shows_the_api_title(page, live_server, coordinator):
    errors = collect_console_errors(page)
    sign_in(page, live_server, "carol", PASSWORD)

    page.goto(f"{live_server.url}/api/docs/")

    # Swagger UI is served from drf-spectacular-sidecar's static files, not a CDN.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(API_TITLE)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert errors == []

    schema = page.request.get(f"{live_server.url}/api/schema/?format=json")
    assert schema.ok
    assert schema.json()["info"]["title"] == API_TITLE


def test_pages_have_no_console_errors(page, live_server, coordinator):
    errors = collect_console_errors(page)

    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    assert errors == [], "anonymous home page"

    sign_in(page, live_server, "carol", PASSWORD)
    page.wait_for_load_state("networkidle")
    expect(page.locator("header .who")).to_have_text("carol")
    assert errors == [], "login page or signed-in home page"
