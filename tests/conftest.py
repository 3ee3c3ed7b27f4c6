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
