"""Request rates of the REST API, counted in the Django cache (Redis, shared by every process), answered with 429
and Retry-After.

Two limits on every API view: per client address for anonymous calls, per user for the rest. Costly writes have
their own, tighter per-user limit named by the view (``throttle_scopes``: action -> scope). Rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at call time (DRF's own classes read them once, at import). The
client address is what uvicorn puts in the ASGI scope: behind a proxy, set ``FORWARDED_ALLOW_IPS`` so that it
is the caller's, not the proxy's.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings


class CurrentRates:
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        # The address the sign-in lockout counts too: IPv4, or the IPv6 /64 one host usually holds.
        from workers.auth_limits import client_address

        return client_address(request)


class AnonymousRateThrottle(CurrentRates, throttling.AnonRateThrottle):
    """Anonymous calls, per client address (scope ``anon``)."""


class AddressRateThrottle(CurrentRates, throttling.SimpleRateThrottle):
    """Every call, per client address (scope ``anon``), without authenticating the caller: the sign-in endpoint
    reads its token lazily, so that a script still sending an expired one can post its password for a new one."""

    scope = "anon"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserRateThrottle(CurrentRates, throttling.UserRateThrottle):
    """Authenticated calls, per user (scope ``user``)."""


class ActionRateThrottle(CurrentRates, throttling.SimpleRateThrottle):
    """The writes a view names in ``throttle_scopes`` ({action: scope}), per user. Reads are not counted."""

    def __init__(self) -> None:
        # The scope, and so the rate, is known only once the view is (allow_request).
        pass

    def allow_request(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        self.scope = getattr(view, "throttle_scopes", {}).get(getattr(view, "action", None))
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
