from celery import shared_task

from audit import trail
from cohorts.models import Patient

from . import services, sweep
from .models import Protocol, SchedulerHeartbeat

REPLAN_BATCH_SIZE = 500


@shared_task(bind=True, ignore_result=False)
def record_heartbeat(self) -> str:
    """Record that beat and a worker are alive; returns the recorded time."""
    beat = SchedulerHeartbeat.record(worker=self.request.hostname or "")
    return beat.beat_at.isoformat()


@shared_task
def replan_everyone() -> dict:
    """Re-plan every active patient on the active protocol, batch by batch.

    Each batch commits on its own; re-planning is idempotent, so a worker that
    dies half-way is repaired by running the task again.
    """
    patients = Patient.objects.filter(is_active=True).exclude(risk_tier="")
    ids = list(patients.values_list("pk", flat=True).order_by("pk"))
    for start in range(0, len(ids), REPLAN_BATCH_SIZE):
        batch = patients.filter(pk__in=ids[start : start + REPLAN_BATCH_SIZE])
        services.replan(list(batch.select_related("profile", "contact")))
    version = Protocol.objects.active().version
    trail.record(
        trail.system_request(None, "celery replan_everyone"),
        trail.Action.UPDATE,
        None,
        "replan",
        version,
        f"re-planned {len(ids)} patients on protocol version {version}",
    )
    return {"replanned": len(ids)}


@shared_task
def sweep_due() -> dict:
    """Beat's every-minute sweep; concurrent runs share the work (SKIP LOCKED)."""
    return sweep.sweep()
