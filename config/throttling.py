"""API rate limits: per user (per address when anonymous), and per address for everyone.

They differ from DRF's own throttles in three ways:

- the address is the client's as `audit.addresses` decides it (trusted
  proxies), never an `X-Forwarded-For` a client wrote;
- the count is one atomic increment per request on a fixed window (Redis
  `INCR` with an expiry, through the cache), where DRF reads, appends and
  writes back a request history that parallel requests race past;
- if the cache is unreachable, requests are let through and the failure is
  logged: a rate limit must not take the API down with it.
"""

import logging

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from accounts.rate_limits import count_in_window
from audit.addresses import client_address

logger = logging.getLogger(__name__)


class _AtomicWindow(SimpleRateThrottle):
    def get_ident(self, request) -> str:
        return client_address(request) or "unknown"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            count, self.window_ends = count_in_window(self.key, self.duration, self.timer())
        except Exception:
            logger.warning("Rate limit %s not checked: the cache is unreachable", self.scope)
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_ends - self.timer(), 1)


class AnonymousRateThrottle(_AtomicWindow, AnonRateThrottle):
    """Anonymous callers, by address."""


class SignedInRateThrottle(_AtomicWindow, UserRateThrottle):
    """Signed-in callers, by user."""


class AddressRateThrottle(_AtomicWindow):
    """One budget per client address, signed in or not.

    The per-user limit alone lets one address spread its requests over many
    accounts (or stolen tokens); this caps the address as a whole.
    """

    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
