from celery import shared_task

from .models import SchedulerHeartbeat


@shared_task(bind=True, ignore_result=False)
def record_heartbeat(self) -> str:
    """Record that beat and a worker are alive; returns the recorded time."""
    beat = SchedulerHeartbeat.record(worker=self.request.hostname or "")
    return beat.beat_at.isoformat()
