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


def wait_for_slot(sender: str, per_second: int | None = None, clock=time.time, sleep=time.sleep):
    """Block until this sender may send one more message this second."""
    limit = settings.SMS_RATE_PER_SECOND if per_second is None else per_second
    if limit <= 0:
        return
    while True:
        second = int(clock())
        key = f"sms-rate:{sender}:{second}"
        cache.add(key, 0, timeout=5)
        if cache.incr(key) <= limit:
            return
        sleep(max(0.0, second + 1 - clock()))
