from rest_framework.throttling import SimpleRateThrottle


class AddressRateThrottle(SimpleRateThrottle):
    """One budget per client address, signed in or not.

    The per-user limit alone lets one address spread its requests over many
    accounts (or stolen tokens); this caps the address as a whole.
    """

    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
