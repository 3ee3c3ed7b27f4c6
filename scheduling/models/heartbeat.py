"""Celery beat's heartbeat, for /healthz."""

from django.db import models
from django.utils import timezone


class SchedulerHeartbeat(models.Model):
    """The last time Celery beat's heartbeat task ran on a worker.

    One row, updated every minute: if it goes stale, nothing is sweeping for
    due reminders, and /healthz says so.
    """

    SINGLETON_ID = 1

    beat_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"beat at {self.beat_at:%Y-%m-%d %H:%M:%S} on {self.worker or 'unknown worker'}"

    @classmethod
    def record(cls, worker: str = "") -> "SchedulerHeartbeat":
        beat, _ = cls.objects.update_or_create(
            id=cls.SINGLETON_ID, defaults={"beat_at": timezone.now(), "worker": worker}
        )
        return beat

    @classmethod
    def last_beat_at(cls):
        return cls.objects.filter(id=cls.SINGLETON_ID).values_list("beat_at", flat=True).first()
