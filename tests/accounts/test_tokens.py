"""API tokens: hashed at rest, expiring, one per device, listed with their last use,
revocable by their user and by a superuser; failures count towards the sign-in lockout."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from tests.factories import STAFF_PASSWORD, UserFactory, with_password

pytestmark = [pytest.mark.django_db]

PASSWORD = STAFF_PASSWORD
ISSUE = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"


@pytest.fixture
def carol():
    return with_password(UserFactory(username="carol", role="coordinator"))


def issue(password=PASSWORD, device="clinic laptop", **extra):
    body = {"username": "carol", "password": password, "device": device, **extra}
    return APIClient().post(ISSUE, body, format="json")


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_is_shown_once_and_stored_only_as_a_hash(carol):
    response = issue()

    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["token"]
    stored = ApiToken.objects.get()
    assert token not in (stored.digest, stored.token_key)
    assert stored.token_key == token[: len(stored.token_key)]
    assert (body["device"], stored.user) == ("clinic laptop", carol)
    assert with_token(token).get("/api/v1/cohorts/").status_code == 200
    assert "token" not in with_token(token).get(TOKENS).json()["results"][0]


def test_a_token_expires(carol, settings):
    with time_machine.travel("2026-06-01 12:00Z"):
        token = issue().json()["token"]

    with time_machine.travel("2026-06-01 12:00Z") as clock:
        clock.shift(timedelta(days=settings.API_TOKEN_DAYS, minutes=1))
        response = with_token(token).get("/api/v1/cohorts/")

    assert response.status_code == 401


def test_one_token_per_device(carol):
    first = issue().json()["token"]
    second = issue().json()["token"]
    issue(device="phone")

    assert with_token(first).get("/api/v1/cohorts/").status_code == 401
    listed = with_token(second).get(TOKENS).json()["results"]
    assert sorted(row["device"] for row in listed) == ["clinic laptop", "phone"]


def test_the_list_says_when_each_token_was_last_used(carol):
    token = issue().json()["token"]
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        with_token(token).get("/api/v1/cohorts/")
        [row] = with_token(token).get(TOKENS).json()["results"]

    assert row["last_used_at"] is not None


def test_the_user_revokes_a_token(carol):
    laptop = issue().json()
    phone = issue(device="phone").json()

    response = with_token(laptop["token"]).delete(f"{TOKENS}{phone['id']}/")

    assert response.status_code == 204
    assert with_token(phone["token"]).get("/api/v1/cohorts/").status_code == 401
    assert AuditEvent.objects.filter(object_type="api_token", action="delete").count() == 1


def test_a_user_cannot_see_or_revoke_anothers_token(carol):
    theirs = issue().json()
    mallory = UserFactory(username="mallory", role="coordinator")
    client = APIClient()
    client.force_authenticate(mallory)

    assert client.get(TOKENS).json()["results"] == []
    assert client.delete(f"{TOKENS}{theirs['id']}/").status_code == 404
    assert ApiToken.objects.count() == 1


def test_only_a_superuser_revokes_tokens_in_the_admin_and_each_revocation_is_audited(carol):
    token = ApiToken.objects.create(user=carol, device="laptop")[0]
    phone, tablet = (ApiToken.objects.create(user=carol, device=d)[0] for d in ("phone", "tab"))
    admin_user = UserFactory(role="admin", is_staff=True)
    root = UserFactory(is_superuser=True, is_staff=True)
    page = f"/admin/accounts/apitoken/{token.pk}/delete/"
    admin_client, root_client = Client(), Client()
    admin_client.force_login(admin_user)
    root_client.force_login(root)

    assert admin_client.post(page, {"post": "yes"}).status_code == 403
    assert not AuditEvent.objects.filter(object_type="api_token").exists()
    assert root_client.post(page, {"post": "yes"}).status_code == 302
    chosen = {"action": "delete_selected", "_selected_action": [phone.pk, tablet.pk]}
    assert (
        root_client.post("/admin/accounts/apitoken/", {**chosen, "post": "yes"}).status_code == 302
    )

    assert not ApiToken.objects.exists()
    one, *many = AuditEvent.objects.filter(object_type="api_token", action="delete").order_by("pk")
    assert (one.username, one.object_id) == (root.username, token.token_key)
    assert sorted((e.username, e.object_id) for e in many) == sorted(
        (root.username, t.token_key) for t in (phone, tablet)
    )


def test_wrong_passwords_for_tokens_count_towards_the_lockout(carol):
    statuses = [issue(password="wrong").status_code for _ in range(5)]

    assert statuses == [400, 400, 400, 400, 429]
    assert issue().status_code == 429
    assert (
        Client().post("/accounts/login/", {"username": "carol", "password": PASSWORD}).status_code
        == 429
    )


def test_a_two_factor_user_needs_a_code_for_a_token(carol, two_factor_device):
    device = two_factor_device(carol)

    without = issue()
    wrong = issue(otp_token="000000")
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):  # past the retry delay
        right = issue(otp_token=device.current_code())

    assert (without.status_code, wrong.status_code, right.status_code) == (400, 400, 201)
    assert "otp_token" in without.json()


def test_the_command_issues_a_token_and_prints_it_once(carol, capsys):
    call_command("create_api_token", "carol", "--device", "import script")

    token = capsys.readouterr().out.strip()
    assert with_token(token).get("/api/v1/cohorts/").status_code == 200
    assert ApiToken.objects.get().device == "import script"
