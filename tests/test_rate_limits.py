import pytest
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def rates(monkeypatch):
    """Small limits for this test; the throttles read the shared rates dict."""
    cache.clear()

    def set_rates(**rates):
        for scope, rate in rates.items():
            monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, scope, rate)

    yield set_rates
    cache.clear()


def client_for(user, address="203.0.113.7"):
    client = APIClient(REMOTE_ADDR=address)
    client.force_authenticate(user)
    return client


def test_it_limits_each_user_and_says_when_to_retry(rates):
    rates(user="3/min")
    alice, bob = UserFactory(), UserFactory()

    statuses = [client_for(alice).get("/api/v1/cohorts/").status_code for _ in range(4)]
    limited = client_for(alice).get("/api/v1/cohorts/")

    assert statuses == [200, 200, 200, 429]
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert "throttled" in limited.json()["detail"].lower()
    assert client_for(bob).get("/api/v1/cohorts/").status_code == 200


def test_it_limits_an_address_across_accounts(rates):
    rates(address="4/min")
    users = UserFactory.create_batch(5)

    statuses = [client_for(user).get("/api/v1/cohorts/").status_code for user in users]

    assert statuses == [200, 200, 200, 200, 429]
    assert client_for(users[0], address="198.51.100.9").get("/api/v1/cohorts/").status_code == 200


def test_it_limits_anonymous_callers_by_address(rates):
    rates(anon="2/min")
    client = APIClient(REMOTE_ADDR="203.0.113.50")

    statuses = [client.get("/api/schema/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
