"""Request throttles, counted in the cache (Redis in production, so every process counts the
same requests). Rates come from settings.RAGSITE_THROTTLE_RATES at each request; a scope
without a rate is not throttled."""

import hashlib
import logging

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _SettingsRate:
    def get_rate(self):
        return settings.RAGSITE_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # an unreachable cache must not take questions or logins down
            logger.warning("throttle %s not applied, the cache failed: %s", self.scope, exc)
            return True


class QueryAnonThrottle(_SettingsRate, AnonRateThrottle):
    """Questions per anonymous client address."""

    scope = "query_anon"


class QueryUserThrottle(_SettingsRate, UserRateThrottle):
    """Questions per user (logged in, or by API key); anonymous ones are QueryAnonThrottle's."""

    scope = "query_user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class LoginAddressThrottle(_SettingsRate, SimpleRateThrottle):
    """Login attempts per client address."""

    scope = "login_address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountThrottle(_SettingsRate, SimpleRateThrottle):
    """Login attempts per account name, from any number of addresses."""

    scope = "login_account"

    def __init__(self, username: str):
        super().__init__()
        self.username = username

    def get_cache_key(self, request, view):
        ident = hashlib.sha256(self.username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


def login_wait(request, username: str) -> float | None:
    """Counts a login attempt: None when it may go on, or the seconds to wait when this address
    or this account has tried too often."""
    waits = [
        throttle.wait() or 1.0
        for throttle in (LoginAddressThrottle(), LoginAccountThrottle(username))
        if not throttle.allow_request(request, None)
    ]
    return max(waits) if waits else None
