"""The cache is a convenience: with Redis down, the API and the staff pages keep serving.

What they kept in it is counted afresh, the log says loudly that the cache failed, and
/healthz shows it down (tests/test_health.py). A Redis that drops packets or never
answers costs each cache call CACHE_TIMEOUT_SECONDS, never a hang.
"""

import json
import socket
import threading
from contextlib import contextmanager

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import ApiToken
from cohorts.models import Patient
from staff import import_runs
from staff.models import PatientImport
from tests.config.test_sending_settings import start_with
from tests.factories import PatientFactory, UserFactory
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]

UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
    }
}


@pytest.fixture
def cache_down(settings):
    cache.clear()
    settings.CACHES = UNREACHABLE
    yield
    # the settings fixture restores CACHES (and the cache handler) after the test


@pytest.fixture
def admin():
    PatientFactory()
    return UserFactory(role="admin")


def test_the_api_dashboard_counts_afresh_when_the_cache_is_down(admin, cache_down, caplog):
    token = ApiToken.objects.create(user=admin, device="cache-down")[1]
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.get("/api/v1/dashboard/")

    assert response.status_code == 200
    assert response.json()["totals"]["patients"] >= 1
    assert any(
        record.levelname == "WARNING" and "cache" in record.getMessage()
        for record in caplog.records
    )


def test_the_staff_dashboard_counts_afresh_when_the_cache_is_down(admin, cache_down, caplog):
    response = signed_in(admin).get("/staff/dashboard/")

    assert response.status_code == 200
    assert response.context["rows"]
    assert "Self-exam response rate" in response.content.decode()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("dashboard-figures" in message for message in warnings)
    assert any("staff-trends" in message for message in warnings)


@time_machine.travel("2026-06-02 14:00Z")
def test_a_browser_import_goes_on_without_its_progress_when_the_cache_is_down(
    alice, cohort_a, cache_down, caplog
):
    rows = [
        "first_name,last_name,date_of_birth,mrn,phone,treatment_end_date,her2",
        "Nocache,Import,1966-03-02,CACHE-0001,+1 201 555 0101,2026-01-15,positive",
    ]
    job = PatientImport.objects.create(
        user=alice,
        cohort=cohort_a,
        filename="patients.csv",
        digest="0" * 64,
        text="\n".join(rows) + "\n",
        status=PatientImport.Status.QUEUED,
    )

    assert import_runs.run(job.pk) == "done"
    assert Patient.objects.filter(mrn="CACHE-0001").exists()
    page = signed_in(alice).get(f"/staff/import/{job.pk}/progress/")
    assert page.status_code == 200
    assert "the cache is unreachable" in caplog.text


# --- a Redis host that drops packets, or never answers ------------------------------
# redis-py waits 5 s by default for each, on every call: a request making four cache
# calls would hang for 20 s. CACHE_TIMEOUT_SECONDS bounds each.
REDIS_DEFAULT_TIMEOUT = 5


@contextmanager
def silent_redis(kind: str):
    """A redis:// address where connections hang ("drops packets": the listener's queue
    is full, so new connections get no answer) or are accepted and never answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    held, done = [], threading.Event()
    if kind == "drops packets":
        for _ in range(8):  # fill the accept queue: further connection attempts wait
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(server.getsockname())
            held.append(filler)
    else:

        def accept():
            while not done.is_set():
                try:
                    held.append(server.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        done.set()
        server.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        server.close()
        for held_socket in held:
            held_socket.close()


@pytest.mark.parametrize("kind", ["drops packets", "never answers"])
def test_a_silent_redis_costs_a_cache_call_the_timeout_not_a_hang(kind):
    probe = """
import time, django
django.setup()
from django.conf import settings
from django.core.cache import cache
started = time.monotonic()
try:
    cache.get("anything")
    error = None
except Exception as exc:
    error = exc.__class__.__name__
print(json.dumps({"options": settings.CACHES["default"].get("OPTIONS"), "error": error,
                  "seconds": time.monotonic() - started}))
"""
    with silent_redis(kind) as url:
        started = start_with("import json" + probe, CACHE_URL=url, CACHE_TIMEOUT_SECONDS="0.5")
        default = start_with("import json" + probe, CACHE_URL=url)

    assert started.returncode == 0, started.stderr
    out = json.loads(started.stdout.splitlines()[-1])
    assert out["options"] == {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    assert out["error"] == "TimeoutError"
    assert out["seconds"] < REDIS_DEFAULT_TIMEOUT
    options = json.loads(default.stdout.splitlines()[-1])["options"]
    assert options == {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}


def test_the_dashboards_answer_when_redis_drops_packets(admin, settings, caplog):
    token = ApiToken.objects.create(user=admin, device="silent-redis")[1]
    with silent_redis("drops packets") as url:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "OPTIONS": settings.CACHE_REDIS_OPTIONS,
            }
        }
        api = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/dashboard/")
        page = signed_in(admin).get("/staff/dashboard/")

    assert (api.status_code, page.status_code) == (200, 200)
    assert "TimeoutError" in caplog.text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "CACHE_TIMEOUT_SECONDS must be a number, not 'soon'"),
        ("0", "CACHE_TIMEOUT_SECONDS must be at least 0.01"),
        ("inf", "CACHE_TIMEOUT_SECONDS must be a finite number"),
    ],
)
def test_a_bad_cache_timeout_stops_start_up(value, message):
    started = start_with(CACHE_TIMEOUT_SECONDS=value)

    assert started.returncode != 0
    assert message in started.stderr
