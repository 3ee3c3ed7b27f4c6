"""The client's address: the one place that decides it, for the rate limits, the
sign-in lockout and the audit trail alike.

`TRUSTED_PROXIES` (addresses or networks, empty by default) names the reverse
proxies in front of the service. A request whose peer (`REMOTE_ADDR`) is one of
them carries the client's address in `X-Forwarded-For`, to which each proxy
appends the address it received the request from: read from the right,
skipping trusted proxies, the first other address is the client. From any other
peer, the peer is the client: its `X-Forwarded-For` is whatever it chose to
write, and is ignored.
"""

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest


@cache
def _trusted(networks: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)


def _parse(address: str):
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def _is_proxy(address) -> bool:
    return any(address in network for network in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(request: HttpRequest) -> str | None:
    """The client's address (see the module's docstring), or None if the peer has none."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    if not _is_proxy(peer):
        return str(peer)
    forwarded = (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    for hop in reversed(forwarded):
        address = _parse(hop)
        if address is None:
            return str(peer)  # a garbled chain: trust no further than our own proxy
        if not _is_proxy(address):
            return str(address)
    return str(peer)
