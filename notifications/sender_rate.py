"""A messages-per-second limit per sender, shared by every worker.

The count lives in the cache (Redis in any multi-worker deployment:
CACHE_URL), one key per sender and second, so ten workers together stay
under what the number or messaging service allows.
"""

import time

from django.conf import settings
from django.core.cache import cache


def sender_key() -> str:
    return settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER or "default"


class NoSlot(Exception):
    """The sender stayed busy for longer than the caller can wait."""


def wait_for_slot(sender: str, per_second: int | None = None, max_wait: float = 60.0, **clocks):
    """Block until this sender may send one more message this second (NoSlot after max_wait)."""
    take_slots(sender, 1, per_second, max_wait, **clocks)


def take_slots(
    sender: str,
    wanted: int,
    per_second: int | None = None,
    max_wait: float = 60.0,
    clock=time.time,
    sleep=time.sleep,
) -> int:
    """Take up to `wanted` of this sender's slots in the current second, waiting for the
    next second while none is free; returns how many were taken (at least one; all of
    them when there is no limit). NoSlot after max_wait.

    The count is raised by `wanted` in one step, and what it overshoots the limit by
    is given back, so concurrent callers never share out more than the limit.
    """
    limit = settings.SMS_RATE_PER_SECOND if per_second is None else per_second
    if limit <= 0:
        return wanted
    started = clock()
    while True:
        if clock() - started > max_wait:
            raise NoSlot(f"no sending slot for {sender} within {max_wait:.0f} s")
        second = int(clock())
        key = f"sms-rate:{sender}:{second}"
        cache.add(key, 0, timeout=5)
        count = cache.incr(key, wanted)
        taken = max(0, min(wanted, limit - (count - wanted)))
        if taken < wanted:
            cache.decr(key, wanted - taken)
        if taken:
            return taken
        sleep(max(0.0, second + 1 - clock()))
