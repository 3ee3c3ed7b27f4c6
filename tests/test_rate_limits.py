import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import time_machine
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]
MID_WINDOW = "2026-06-01 12:00:30Z"


@pytest.fixture
def rates(monkeypatch):
    """Small limits for this test; the throttles read the shared rates dict.

    Time stands still mid-window: the limits count in fixed windows, so calls
    that ran across a window's end (one test in fifty, more on a busy
    machine) would start counting again.
    """
    cache.clear()

    def set_rates(**rates):
        for scope, rate in rates.items():
            monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, scope, rate)

    with time_machine.travel(MID_WINDOW, tick=False):
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


def test_a_forwarded_for_header_from_an_untrusted_peer_is_not_an_identity(rates):
    rates(anon="2/min")
    client = APIClient(REMOTE_ADDR="203.0.113.51")

    statuses = [
        client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(rates, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    rates(anon="2/min")
    proxy = APIClient(REMOTE_ADDR="10.0.0.5")

    def call(chain: str) -> int:
        return proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR=chain).status_code

    # The client may write anything on the left; the proxy appends the address it saw.
    first = [call("198.51.100.1"), call("6.6.6.6, 198.51.100.1"), call("198.51.100.1")]

    assert first == [200, 200, 429]
    assert call("198.51.100.2, 10.0.0.9") == 200  # another client, through two proxies


def test_the_api_keeps_serving_when_the_cache_is_down(rates, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    rates(user="3/min")

    response = client_for(UserFactory()).get("/api/v1/cohorts/")

    assert response.status_code == 200
    assert "the cache is unreachable" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_never_pass_the_limit(rates, settings, live_server):
    """The count is atomic: 40 requests at once from one token, a limit of 10, 10 pass."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
            "KEY_PREFIX": f"parallel-{uuid.uuid4().hex}",
        }
    }
    rates(user="10/min")
    token = ApiToken.objects.create(user=UserFactory(), device="parallel")[1]
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=40))
    barrier = threading.Barrier(40)

    def call(_) -> int:
        barrier.wait()
        return session.get(
            f"{live_server.url}/api/v1/cohorts/", headers={"Authorization": f"Token {token}"}
        ).status_code

    # Time stands still mid-window (`rates`), for the server's threads too.
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(call, range(40)))

    assert sorted(statuses) == [200] * 10 + [429] * 30
