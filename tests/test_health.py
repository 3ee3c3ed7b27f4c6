import time_machine
from django.utils import timezone

from scheduling.models import SchedulerHeartbeat


def test_it_reports_database_and_broker_reachable(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "vendor": "postgresql"}
    assert body["broker"]["ok"] is True


def test_it_answers_503_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["broker"]["ok"] is False


def test_it_reports_a_stale_scheduler(client, db):
    with time_machine.travel(timezone.now() - timezone.timedelta(minutes=10)):
        SchedulerHeartbeat.record(worker="w1")

    scheduler = client.get("/healthz").json()["scheduler"]

    assert scheduler["stale"] is True


def test_it_reports_a_fresh_scheduler(client, db):
    SchedulerHeartbeat.record(worker="w1")

    scheduler = client.get("/healthz").json()["scheduler"]

    assert scheduler["stale"] is False


def test_it_is_reachable_over_plain_http_when_https_is_enforced(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301


def test_it_reports_an_unreachable_cache_without_failing(client, db, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }

    body = client.get("/healthz").json()

    assert body["cache"]["ok"] is False
    assert body["sms_provider"]["outage"] is None
