"""GET /healthz: can this process reach the database and the broker?

Answers 200 when both are reachable and 503 otherwise, as JSON, for load
balancers and container health checks. The scheduler's last heartbeat is
reported too, and so are the shared cache (without it the rate limits and the
SMS circuit breaker are not applied) and an SMS provider outage, but none of
them fails the probe: they are alerts for a human, not reasons to restart
web processes.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from notifications import circuit
from scheduling.models import SchedulerHeartbeat

BROKER_TIMEOUT_SECONDS = 3


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "unreachable"
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor}


def _check_broker() -> dict:
    broker = Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    )
    try:
        with broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # kombu raises many types for "unreachable"
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "transport": broker.transport_cls}


def _check_cache() -> dict:
    """The shared cache: without it rate limits and the SMS circuit are not applied."""
    try:
        cache.set("healthz", 1, 5)
        cache.get("healthz")
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def _check_scheduler(database_ok: bool) -> dict:
    last_beat = SchedulerHeartbeat.last_beat_at() if database_ok else None
    if last_beat is None:
        return {"last_beat_at": None, "stale": True}
    age = (timezone.now() - last_beat).total_seconds()
    return {
        "last_beat_at": last_beat.isoformat(),
        "stale": age > settings.SCHEDULER_STALE_AFTER_SECONDS,
    }


@never_cache
@require_GET
def healthz(request):
    database = _check_database()
    broker = _check_broker()
    healthy = database["ok"] and broker["ok"]
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "broker": broker,
        "scheduler": _check_scheduler(database["ok"]),
        # Reported, never failing the probe: restarting web processes cures neither.
        "cache": _check_cache(),
        "sms_provider": circuit.status(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
