"""Per-client rate limits behind one small interface: `allow(key) -> (allowed, retry_after_seconds)`.

Two backends count requests in a fixed window per key that opens with the key's first request and lasts
`window` seconds (60 for `rate_limit_per_minute`):

- `MemoryRateLimiter` (default): a dict in this process. Enough for one worker; every worker counts on its
  own, so with N workers a client gets up to N times the limit.
- `RedisRateLimiter` (when `ASSISTANT_REDIS_URL` is set): one Lua script does INCR and, on the first hit,
  PEXPIRE atomically, so every worker and every instance shares one count. When Redis cannot be reached the
  limiter fails open (the request is allowed and a warning is logged at most once a minute): a broken cache
  must not take the assistant down.

A window that opens at the first request (rather than at clock minutes) needs no clock shared between
instances; the worst burst is 2x the limit across a window boundary, which is fine for abuse protection.

In the API the key is the client: the route group (chat or feedback), the profile named in the request
(only a known one) and a salted hash of the client IP, so Redis never holds an IP address. Behind a reverse
proxy the IP is only right when uvicorn trusts the proxy's X-Forwarded-For (`FORWARDED_ALLOW_IPS`).
The WhatsApp channel keys on its sender hash and calls `app.state.rate_limiter.allow(key)` itself.
`rate_limit_per_minute = 0` switches limiting off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from assistant.config import Settings

log = logging.getLogger("assistant.ratelimit")


class RateLimiter(Protocol):
    limit: int
    window: int
    blocking: bool  # True when allow() does I/O (the API then calls it from a worker thread)

    def allow(self, key: str) -> tuple[bool, int]:
        """Count one request for `key`; (allowed, seconds until the window resets when not allowed)."""
        ...


class MemoryRateLimiter:
    """Fixed windows per key in this process (thread-safe)."""

    blocking = False

    def __init__(
        self,
        limit: int,
        window: int = 60,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (resets_at, count)
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        if self.limit <= 0:
            return True, 0
        now = self.clock()
        with self._lock:
            resets_at, count = self._windows.get(key, (0.0, 0))
            if now >= resets_at:
                if key not in self._windows and len(self._windows) >= self.max_keys:
                    self._prune(now)
                resets_at, count = now + self.window, 0
            count += 1
            self._windows[key] = (resets_at, count)
        if count <= self.limit:
            return True, 0
        return False, max(1, math.ceil(resets_at - now))

    def _prune(self, now: float) -> None:
        """Forget closed windows; if every window is still open, forget the oldest half (bounded memory)."""
        for key in [k for k, (resets_at, _) in self._windows.items() if resets_at <= now]:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:
            for key in list(self._windows)[: len(self._windows) // 2]:
                del self._windows[key]


# INCR and the first PEXPIRE in one atomic step; a key that somehow lost its expiry gets one again.
_WINDOW_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    """Fixed windows per key in Redis, shared by every worker and instance; fails open when Redis is down."""

    blocking = True

    def __init__(
        self,
        limit: int,
        window: int = 60,
        url: str = "",
        client: Any = None,
        prefix: str = "assistant:ratelimit:",
    ) -> None:
        import redis

        self.limit, self.window, self.prefix = limit, window, prefix
        self.client = client or redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._script = self.client.register_script(_WINDOW_SCRIPT)
        self._errors = (redis.RedisError, OSError)
        self._last_warning = 0.0

    def allow(self, key: str) -> tuple[bool, int]:
        if self.limit <= 0:
            return True, 0
        try:
            count, ttl_ms = self._script(keys=[self.prefix + key], args=[self.window * 1000])
        except self._errors as exc:
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning("rate limiter: Redis unavailable, allowing requests (%s)", exc)
            return True, 0
        if int(count) <= self.limit:
            return True, 0
        return False, max(1, math.ceil(int(ttl_ms) / 1000))


def limiter_from_settings(settings: Settings) -> RateLimiter:
    """Redis when `redis_url` is set, else memory; `rate_limit_per_minute` requests per 60 s per key."""
    if settings.redis_url:
        return RedisRateLimiter(settings.rate_limit_per_minute, 60, url=settings.redis_url)
    return MemoryRateLimiter(settings.rate_limit_per_minute, 60)


# --- the API side ----------------------------------------------------------------------------------
class RateLimited(Exception):
    """Raised by the dependency; rendered as 429 with Retry-After (OpenAI-style on /v1/chat/completions)."""

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__(detail)
        self.retry_after, self.detail = retry_after, detail


def client_key(request: Request, group: str, profile: str = "default") -> str:
    """The bucket of one client: route group, profile and a salted hash of the client IP."""
    host = request.client.host if request.client else "unknown"
    salt = request.app.state.settings.hash_salt
    digest = hashlib.sha256(f"{salt}:ip:{host}".encode()).hexdigest()[:32]
    return f"{group}:{profile}:{digest}"


async def _profile_of(request: Request) -> str:
    """The profile the JSON body names, when it is a known one (anything else shares the default bucket)."""
    if "json" not in request.headers.get("content-type", ""):
        return "default"
    body = await request.body()  # FastAPI has read it already: this is the cached copy
    if len(body) > 65536:
        return "default"
    try:
        data = json.loads(body)
    except ValueError:
        return "default"
    name = data.get("profile") if isinstance(data, dict) else None
    profiles = getattr(request.app.state, "profiles", {})
    return name if isinstance(name, str) and name in profiles else "default"


def rate_limit(group: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency counting one request of `group` for the calling client."""

    async def check(request: Request) -> None:
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is None or limiter.limit <= 0:
            return
        key = client_key(request, group, await _profile_of(request))
        if limiter.blocking:
            allowed, retry_after = await to_thread.run_sync(limiter.allow, key)
        else:
            allowed, retry_after = limiter.allow(key)
        if not allowed:
            raise RateLimited(
                retry_after,
                f"more than {limiter.limit} requests in {limiter.window} seconds; "
                f"try again in {retry_after} seconds",
            )

    return check


async def _rate_limited(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return JSONResponse(
        {"error": "rate_limited", "detail": exc.detail},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def install_rate_limit(app: FastAPI, settings: Settings) -> None:
    """Puts the limiter on `app.state.rate_limiter` and renders `RateLimited` as a 429."""
    app.state.rate_limiter = limiter_from_settings(settings)
    app.add_exception_handler(RateLimited, _rate_limited)
