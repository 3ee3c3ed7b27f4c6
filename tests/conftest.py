import pytest
from celery import current_app

from tests.celery_worker import CeleryWorker


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on Redis and the PostgreSQL test database.

    Tests that use it must also use `transactional_db`, so the worker sees
    their committed rows.
    """
    current_app.control.purge()
    worker = CeleryWorker(tmp_path_factory.mktemp("celery"))
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
