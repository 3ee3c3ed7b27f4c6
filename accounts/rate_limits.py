"""Fixed-window counters in the shared cache: one atomic increment per event.

Used by the API's rate limits (`config.throttling`) and the password-reset
form. Redis `INCR` (through the cache) counts parallel events exactly, where a
read-modify-write would let them race past the limit.
"""

from django.core.cache import cache


def count_in_window(key: str, seconds: int, now: float) -> tuple[int, float]:
    """This event's number in the current window of `seconds`, and when the window ends.

    Raises whatever the cache raises when it is unreachable: the caller decides.
    """
    window = int(now // seconds)
    bucket = f"{key}:{window}"
    timeout = 2 * seconds  # outlives the window: a late increment never outlives its expiry
    if cache.add(bucket, 1, timeout):
        return 1, (window + 1) * seconds
    try:
        return cache.incr(bucket), (window + 1) * seconds
    except ValueError:  # expired between the two calls
        cache.add(bucket, 1, timeout)
        return 1, (window + 1) * seconds
