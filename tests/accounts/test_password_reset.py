"""Password reset by e-mail: a one-time link, the same answer for any address, rate-limited."""

import re

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]

RESET = "/accounts/password-reset/"


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    settings.PASSWORD_RESET_PER_HOUR = 3
    cache.clear()
    yield
    cache.clear()


def ask(address: str, client_address: str = "203.0.113.9"):
    return Client(REMOTE_ADDR=client_address).post(RESET, {"email": address})


def test_a_staff_member_resets_their_password_with_the_link():
    carol = UserFactory(username="carol", email="carol@example.invalid")

    response = ask("carol@example.invalid")

    assert response.headers["Location"] == "/accounts/password-reset/done/"
    [email] = mail.outbox
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", email.body).group(1)
    client = Client()
    form = client.get(link, follow=True)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "another-long-passphrase", "new_password2": "another-long-passphrase"},
    )
    assert done.headers["Location"] == "/accounts/reset/done/"
    carol.refresh_from_db()
    assert carol.check_password("another-long-passphrase")
    assert client.get(link, follow=True).context["validlink"] is False


def test_an_unknown_address_gets_the_same_answer_and_no_mail():
    response = ask("nobody@example.invalid")

    assert response.headers["Location"] == "/accounts/password-reset/done/"
    assert mail.outbox == []


@time_machine.travel("2026-06-01 12:30Z", tick=False)  # mid-window: the limit counts by the hour
def test_requests_past_the_limit_send_nothing_but_say_the_same():
    UserFactory(email="carol@example.invalid")

    answers = [ask("carol@example.invalid", f"203.0.113.{n}").status_code for n in range(5)]

    assert answers == [302] * 5
    assert len(mail.outbox) == 3  # the e-mail address's limit, whatever the client address
