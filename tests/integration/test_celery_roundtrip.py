import pytest
from django.utils.dateparse import parse_datetime

from scheduling.models import SchedulerHeartbeat
from scheduling.tasks import record_heartbeat

pytestmark = [pytest.mark.integration]


def test_it_runs_a_task_on_the_worker_and_commits_to_postgresql(transactional_db, celery_worker):
    result = record_heartbeat.apply_async(queue=celery_worker.queue)

    recorded_at = parse_datetime(result.get(timeout=30))

    assert SchedulerHeartbeat.last_beat_at() == recorded_at
    assert SchedulerHeartbeat.objects.get().worker.startswith("test-")


def test_it_runs_on_postgresql_and_redis(settings):
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
