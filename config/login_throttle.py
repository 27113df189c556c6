"""Login throttling: after LOGIN_FAILURE_LIMIT failed logins for one username from one address
within LOGIN_LOCKOUT_SECONDS, that pair is locked out for LOGIN_LOCKOUT_SECONDS.

Counts live in the default cache (Redis when REDIS_URL is set, so every web process sees them).
Times are compared in the values, not left to the cache's expiry alone: the expiry only
collects old keys. The refusal itself happens before the login view runs (LoginThrottleMiddleware),
so a locked-out attempt never reaches a password hasher.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The caller's address; behind a proxy, the last one it added to X-Forwarded-For."""
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def _key(request: HttpRequest, username: str) -> str:
    pair = f"{username.strip().casefold()}\0{client_address(request)}"
    return "login-throttle:" + hashlib.sha256(pair.encode()).hexdigest()


def locked_for(request: HttpRequest, username: str) -> int:
    """Seconds until this username may try again from this address (0: it may now)."""
    until = cache.get(_key(request, username) + ":locked-until")
    return max(0, int(until - time.time()) + 1) if until and until > time.time() else 0


def record_failure(request: HttpRequest, username: str) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    key, now = _key(request, username), time.time()
    since = cache.get_or_set(key + ":since", now, window)
    if now - since >= window:  # the window has passed: count from this failure
        cache.set_many({key + ":since": now, key + ":count": 0}, window)
    cache.add(key + ":count", 0, window)
    try:
        count = cache.incr(key + ":count")  # atomic in Redis: parallel attempts each count
    except ValueError:  # expired between add and incr
        cache.set(key + ":count", 1, window)
        count = 1
    if count >= settings.LOGIN_FAILURE_LIMIT:
        cache.set(key + ":locked-until", now + window, window)


def reset(request: HttpRequest, username: str) -> None:
    key = _key(request, username)
    cache.delete_many([key + ":since", key + ":count", key + ":locked-until"])


@receiver(user_login_failed)
def _count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    # Logins without a request (the test client's login()) are not the web's: nothing to count.
    if request is not None:
        record_failure(request, str(credentials.get("username", "")))


@receiver(user_logged_in)
def _reset_on_success(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        reset(request, user.get_username())
