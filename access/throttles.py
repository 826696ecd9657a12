"""Request throttles, counted in the cache (Redis in production, so every process counts the
same requests). Rates come from settings.RAGSITE_THROTTLE_RATES at each request; a scope
without a rate is not throttled."""

import hashlib
import logging

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


# A client's requests in one window are one integer in the cache, counted up atomically
# (cache.incr: Redis INCR), so that requests arriving together in several threads or processes
# are each counted. DRF's own throttles read a list of times, append to it and write it back:
# requests that read it together were each let through (60 of a 20/min limit at once, 121 of
# 120/min in the wild). The integer also says when its window opened, for Retry-After:
# opened_at * WINDOW_SLOTS + requests (2**30 requests a window; fits Redis's 64 bits until 2242).
WINDOW_SLOTS = 1 << 30


class _SettingsRate:
    """A fixed window per client and scope: it opens at the client's first request and closes
    `duration` seconds later (the cache entry's expiry), and lets `num_requests` through."""

    def get_rate(self):
        return settings.RAGSITE_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        try:
            return self._allow(request, view)
        except Exception as exc:  # an unreachable cache must not take questions or logins down
            logger.warning("throttle %s not applied, the cache failed: %s", self.scope, exc)
            return True

    def _allow(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        self.opened_at, requests = self._count()
        return requests <= self.num_requests

    def _count(self) -> tuple[int, int]:
        """Counts this request: (when its window opened, requests in the window, this one included)."""
        for _ in range(3):
            opened_at = int(self.now)
            if self.cache.add(self.key, opened_at * WINDOW_SLOTS + 1, self.duration):
                return opened_at, 1
            try:
                value = self.cache.incr(self.key)
            except ValueError:  # the window closed between the two calls: open the next one
                continue
            if value > WINDOW_SLOTS:
                return divmod(value, WINDOW_SLOTS)
            # Django's Redis incr checks that the key exists, then INCRs: a key that expired in
            # between comes back without an expiry and without its opening time. Drop it.
            self.cache.delete(self.key)
        return int(self.now), 1

    def wait(self) -> float:
        """Seconds until the window closes (Retry-After)."""
        return max(1.0, self.opened_at + self.duration - self.now)


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
