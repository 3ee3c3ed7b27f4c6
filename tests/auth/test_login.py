import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import STAFF_PASSWORD, UserFactory, with_password

pytestmark = [pytest.mark.django_db]

PASSWORD = STAFF_PASSWORD


@pytest.fixture
def carol():
    return with_password(UserFactory(username="carol", role="coordinator"))


def sign_in(client, password, username="carol"):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_it_signs_in_with_a_session_and_csrf(carol):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    form = client.get("/accounts/login/")
    token = form.cookies["csrftoken"].value

    refused = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD})
    accepted = client.post(
        "/accounts/login/",
        {"username": "carol", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert client.get("/").context["user"] == carol


def test_it_locks_a_username_after_five_failures_until_the_cool_off(client, carol):
    failures = [sign_in(client, "wrong password").status_code for _ in range(5)]

    locked = sign_in(client, PASSWORD)

    assert failures == [200, 200, 200, 200, 429]
    assert locked.status_code == 429
    assert b"temporarily locked" in locked.content
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=31)):
        assert sign_in(client, PASSWORD).status_code == 302


def test_one_users_typos_do_not_lock_out_the_clinic(client, carol):
    with_password(UserFactory(username="dave", role="coordinator"))
    for _ in range(5):
        sign_in(client, "wrong password")

    assert sign_in(client, PASSWORD, username="dave").status_code == 302
    assert sign_in(client, PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_lockout_keys_on_the_client_address(client, carol, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def from_client(address, password):
        return client.post(
            "/accounts/login/",
            {"username": "carol", "password": password},
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR=address,
        )

    for _ in range(5):
        from_client("198.51.100.1", "wrong password")

    assert from_client("198.51.100.1", PASSWORD).status_code == 429
    assert from_client("198.51.100.2", PASSWORD).status_code == 302


def test_it_forgives_failures_after_a_successful_sign_in(client, carol):
    for _ in range(4):
        sign_in(client, "wrong password")
    assert sign_in(client, PASSWORD).status_code == 302
    client.post("/accounts/logout/")

    for _ in range(4):
        sign_in(client, "wrong password")

    assert sign_in(client, PASSWORD).status_code == 302


@pytest.mark.parametrize("weak", ["short1", "password1234", "123456789012", "carol-example"])
def test_it_refuses_weak_passwords(carol, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user=carol)
