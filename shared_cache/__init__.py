"""The shared cache as a convenience: what is kept there is counted afresh when it fails.

Figures that many readers poll (the dashboard's counts, its weekly trends) are kept in
the cache a while, so that they are counted once for all. The cache (Redis, with
`CACHE_URL`) may be down or unreachable: nothing is lost but time. The value is computed
afresh, the failure is a warning in the log, and /healthz shows the cache down. A request
never fails for it.

Only for values the cache keeps for speed. What needs the cache to be right (the API rate
limits, the per-sender SMS rate, the SMS circuit) decides for itself what an unreachable
cache means. Imports nothing of ours: any layer may use it.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()


def kept(key: str, compute: Callable[[], T], seconds: float, *, fresh: bool = False) -> T:
    """The value kept under `key` (at most `seconds` old), else `compute()`, kept for next time.

    `fresh` computes now (and keeps that). When the cache fails, the value is computed
    and not kept: one failed round trip per call, not two.
    """
    if not fresh:
        try:
            found = cache.get(key, _MISSING)
        except Exception as exc:  # the cache's client raises its own types for "unreachable"
            _warn("read", key, exc)
            return compute()
        if found is not _MISSING:
            return found
    value = compute()
    put(key, value, seconds)
    return value


def get(key: str, default: Any = None) -> Any:
    """The value kept under `key`, or `default` when there is none or the cache fails."""
    try:
        return cache.get(key, default)
    except Exception as exc:
        _warn("read", key, exc)
        return default


def put(key: str, value: Any, seconds: float) -> bool:
    """Keep `value` under `key` for `seconds`; False (and a warning) when the cache fails."""
    try:
        cache.set(key, value, seconds)
    except Exception as exc:
        _warn("write", key, exc)
        return False
    return True


def _warn(what: str, key: str, exc: Exception) -> None:
    logger.warning(
        "Cache %s of %s failed, done without it: the cache is unreachable (%s: %s)",
        what,
        key,
        exc.__class__.__name__,
        exc,
    )
