"""The provider circuit breaker, shared by every worker through the cache.

A provider outage must not use up the messages: while it lasts, nobody sends.

- Closed: messages go. Each failure that says the provider is away (it could
  not be reached, or timed out, or answered 5xx) is counted; any answer from
  the provider resets the count.
- Open: after FAILURES_TO_OPEN failures in a row, for a cool-off (30 s at
  first, doubling up to 5 minutes while it stays down). Due messages wait
  (`hold_reason` "provider_outage") without spending an attempt.
- Half-open: when the cool-off ends, one worker probes with one message; the
  others keep waiting. A success closes the circuit and the outbox drains in
  the order its messages were due (`dispatch.take_wake_ups`); a failure opens
  it again, for longer.

If the cache itself is unreachable, the breaker lets messages go: sending as
before is better than not sending at all.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

FAILURES_TO_OPEN = 5
FIRST_COOL_OFF = timedelta(seconds=30)
LONGEST_COOL_OFF = timedelta(minutes=5)
PROBE_LEASE = timedelta(seconds=60)
# How long the others wait while one worker probes.
PROBE_WAIT = timedelta(seconds=5)
FAILURES, OPEN_UNTIL, COOL_OFF, PROBE, SINCE = (
    f"sms-circuit:{name}" for name in ("failures", "open-until", "cool-off", "probe", "since")
)
_KEEP = 24 * 3600  # the circuit's keys outlive any outage worth the name


@dataclass(frozen=True)
class Gate:
    hold_until: datetime | None = None
    """When messages may try again; None: they may go now."""
    probe: bool = False
    """The circuit is half-open and this worker probes: one message only."""


def gate(now: datetime | None = None) -> Gate:
    """Whether messages may go now: closed, open (until when), or half-open with this worker
    probing."""
    now = now or timezone.now()
    try:
        failures = cache.get(FAILURES, 0)
        if failures < FAILURES_TO_OPEN:
            return Gate()
        open_until = cache.get(OPEN_UNTIL)
        if open_until is not None and now < open_until:
            return Gate(hold_until=open_until)
        if cache.add(PROBE, now.isoformat(), PROBE_LEASE.total_seconds()):
            return Gate(probe=True)
        return Gate(hold_until=now + PROBE_WAIT)
    except Exception:
        logger.warning("SMS circuit not checked: the cache is unreachable")
        return Gate()


def record_failure(now: datetime | None = None) -> None:
    """The provider is away: one more failure in a row; open (again) once there are enough."""
    now = now or timezone.now()
    try:
        cache.add(FAILURES, 0, _KEEP)
        failures = cache.incr(FAILURES)
        open_until = cache.get(OPEN_UNTIL)
        if failures < FAILURES_TO_OPEN or (open_until is not None and now < open_until):
            return  # not yet an outage, or already open (a send that started before)
        cool_off = min(cache.get(COOL_OFF, FIRST_COOL_OFF / 2) * 2, LONGEST_COOL_OFF)
        cache.set_many({COOL_OFF: cool_off, OPEN_UNTIL: now + cool_off}, _KEEP)
        cache.add(SINCE, now, _KEEP)
        cache.delete(PROBE)
        logger.error("SMS provider unreachable (%s failures in a row): holding sends", failures)
    except Exception:
        logger.warning("SMS circuit not updated: the cache is unreachable")


def record_success() -> None:
    """The provider answered: the circuit closes and the outbox resumes."""
    try:
        if cache.get(FAILURES):
            cache.delete_many([FAILURES, OPEN_UNTIL, COOL_OFF, PROBE, SINCE])
            logger.warning("SMS provider reachable again: sending resumes")
    except Exception:
        logger.warning("SMS circuit not updated: the cache is unreachable")


def status() -> dict:
    """For /healthz and the dashboard: is the provider considered down, since when."""
    try:
        failures = cache.get(FAILURES, 0)
        since = cache.get(SINCE)
    except Exception:
        return {"outage": None, "error": "cache unreachable"}
    outage = failures >= FAILURES_TO_OPEN
    return {
        "outage": outage,
        "since": since.isoformat() if outage and since else None,
        "failures_in_a_row": failures,
    }
