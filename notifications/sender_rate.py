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


def wait_for_slot(
    sender: str,
    per_second: int | None = None,
    max_wait: float = 60.0,
    clock=time.time,
    sleep=time.sleep,
):
    """Block until this sender may send one more message this second (NoSlot after max_wait)."""
    limit = settings.SMS_RATE_PER_SECOND if per_second is None else per_second
    if limit <= 0:
        return
    started = clock()
    while True:
        if clock() - started > max_wait:
            raise NoSlot(f"no sending slot for {sender} within {max_wait:.0f} s")
        second = int(clock())
        key = f"sms-rate:{sender}:{second}"
        cache.add(key, 0, timeout=5)
        if cache.incr(key) <= limit:
            return
        sleep(max(0.0, second + 1 - clock()))
