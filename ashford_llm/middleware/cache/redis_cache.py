"""RedisCache: cached answers shared across processes and hosts (the `redis` extra).

Entries are plain Redis strings (`SET` with `PX` for the time to live), so Redis's own
eviction policy (e.g. `allkeys-lru` with a `maxmemory`) bounds the cache. A cache is an
optimisation, so Redis failing never fails a call: a read that fails is a miss and a write
that fails is dropped, with one WARNING per outage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING

from ashford_llm.middleware._redis import connect, describe, redis_errors
from ashford_llm.middleware.rate_limit.limiter import check_positive
from ashford_llm.protocol import AsyncCloseable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisCache"]

logger = logging.getLogger("ashford_llm")

KEY_PREFIX = "ashford_llm:cache:"
"""Prefixed to `namespace` and the cache key to name an entry in Redis."""


class RedisCache(AsyncCloseable):
    """Stores cached answers in Redis, shared by every process that uses the same namespace.

    Close it (`aclose`, or `async with`) when done; the Cache layers using it do not.

    Args:
        url: the Redis URL (redis:// or rediss://); it may hold a password and is never shown.
        client: an existing `redis.asyncio.Redis` instead of `url` (it stays the caller's).
        namespace: separates caches sharing one Redis (e.g. per application).
        timeout: seconds any one Redis call may take before it counts as a failure.
        recheck_interval: seconds after a failure before Redis is asked again (calls miss
            the cache meanwhile).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: Redis | None = None,
        namespace: str = "default",
        timeout: float = 0.5,
        recheck_interval: float = 1.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisCache needs exactly one of url or client")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        check_positive("timeout", timeout, integer=False)
        check_positive("recheck_interval", recheck_interval, integer=False)
        self.namespace = namespace
        self.timeout = timeout
        self.recheck_interval = recheck_interval
        self._client, self._owns_client = connect(url, client, timeout, owner="RedisCache")
        self._errors = redis_errors()
        self._down = False
        self._next_check = 0.0

    async def get(self, key: str) -> bytes | None:
        """Returns the entry, or None when absent, expired or Redis fails."""
        if self._skipping():
            return None
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._client.get(self._name(key))
        except self._errors as exc:
            self._failed(exc)
            return None
        self._answered()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        """Stores the entry for `ttl` seconds (rounded up to a millisecond); drops it on failure."""
        if self._skipping():
            return
        expiry = None if ttl is None else max(math.ceil(ttl * 1000), 1)
        try:
            async with asyncio.timeout(self.timeout):
                await self._client.set(self._name(key), value, px=expiry)
        except self._errors as exc:
            self._failed(exc)
            return
        self._answered()

    def _name(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.namespace}:{key}"

    def _skipping(self) -> bool:
        """True while Redis failed recently and is not due to be asked again."""
        return self._down and time.monotonic() < self._next_check

    def _failed(self, exc: BaseException) -> None:
        """Marks Redis down until the next check, warning once per outage."""
        if not self._down:
            logger.warning(
                "Redis is unreachable for cache %r (%s); calls miss the cache until it answers",
                self.namespace,
                describe(exc),
            )
        self._down = True
        self._next_check = time.monotonic() + self.recheck_interval

    def _answered(self) -> None:
        if self._down:
            self._down = False
            logger.info("Redis answers again; cache %r is used again", self.namespace)

    async def aclose(self) -> None:
        """Closes the Redis connections this cache opened (not a client it was given)."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisCache(namespace={self.namespace!r})"
