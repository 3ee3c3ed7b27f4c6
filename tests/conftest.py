import ipaddress
import socket

import pytest
from celery import current_app
from rest_framework.test import APIClient

from tests.celery_worker import CeleryWorker
from tests.factories import CohortFactory, UserFactory


class LiveServiceError(RuntimeError):
    """A test tried to reach something beyond this machine (a real Twilio, a real phone)."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_only(connect):
    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else None  # None: a Unix socket
        if host is not None and not _is_loopback(host):
            raise LiveServiceError(f"tests may only talk to loopback, not {host}")
        return connect(sock, address)

    return guarded


@pytest.fixture(scope="session", autouse=True)
def no_live_services():
    """Fail any test whose code opens a connection off this machine."""
    connect = socket.socket.connect
    socket.socket.connect = _loopback_only(connect)
    yield
    socket.socket.connect = connect


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on Redis and the PostgreSQL test database.

    Tests that use it must also use `transactional_db`, so the worker sees
    their committed rows, and send tasks to `celery_worker.queue`.
    """
    current_app.control.purge()
    # A queue of its own: tests that start workers with other settings (the SMS
    # end-to-end runs) must not have their tasks taken by this one.
    worker = CeleryWorker(tmp_path_factory.mktemp("celery"), queue="shared-test-worker")
    with django_db_blocker.unblock():
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def sms_outbox():
    """The locmem SMS backend's outbox, empty at the start of every test."""
    from notifications.backends import LocmemBackend, get_backend

    get_backend.cache_clear()
    LocmemBackend.outbox.clear()
    yield LocmemBackend.outbox
    get_backend.cache_clear()


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (counted figures, rate limits, the breaker)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def closed_sms_circuit():
    """Every test starts with the provider considered up (the breaker lives in the cache)."""
    from django.core.cache import cache

    from notifications import circuit

    keys = [circuit.FAILURES, circuit.OPEN_UNTIL, circuit.COOL_OFF, circuit.PROBE, circuit.SINCE]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


# --- The people the tests speak of ----------------------------------------------------


@pytest.fixture
def alice(db):
    """A coordinator of cohort A."""
    return UserFactory(username="alice", role="coordinator")


@pytest.fixture
def bob(db):
    """A coordinator of cohort B only."""
    return UserFactory(username="bob", role="coordinator")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", role="admin")


@pytest.fixture
def cohort_a(alice):
    return CohortFactory(name="Cohort A", site="North Hospital", coordinators=[alice])


@pytest.fixture
def cohort_b(bob):
    return CohortFactory(name="Cohort B", site="South Hospital", coordinators=[bob])


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for
