"""RedisRateLimiter: one requests and tokens per minute budget shared by every process.

Every process that names the same `key` draws on one pair of buckets kept in one Redis hash.
The buckets move only inside one Lua script (`_BUCKETS_LUA`), which Redis runs atomically and
times with its own clock, so hosts need no synchronised clocks. An acquire reserves its
request and tokens at once and is told how long to wait before its reservation fits the
budget, so a large request is never starved by small ones (nobody overtakes a reservation),
and each call costs one round trip, with no polling. Settlement after the call is the same
script with a refund or an extra charge.

Calls in flight (`max_concurrency`) are limited per process. Every Redis call is bounded by
`timeout`; when Redis fails, `on_redis_error` decides: "open" (the default) falls back to an
in-process RateLimiter with the same limits, "closed" raises NetworkError. Either way Redis
is asked again `recheck_interval` seconds later, and one WARNING is logged per outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import msgspec

from ashford_llm.errors import NetworkError
from ashford_llm.middleware._redis import InFlight, connect, describe, redis_errors
from ashford_llm.middleware.rate_limit.limiter import (
    RateLimiter,
    RatePermit,
    check_positive,
    check_token_budget,
)
from ashford_llm.protocol import AsyncCloseable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisRateLimiter"]

logger = logging.getLogger("ashford_llm")

KEY_PREFIX = "ashford_llm:rate_limit:"
"""Prefixed to `key` to name the quota's hash in Redis."""

# Leaks both buckets to the server's time, adds the charges (negative ones refund, never below
# empty), and returns the microseconds until the fuller bucket is back within its capacity.
# A capacity of 0 marks a bucket with no limit. The hash expires once both buckets are empty,
# which is the state a missing hash stands for.
_BUCKETS_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'at')
local elapsed = math.max(now - (tonumber(state[3]) or now), 0)
local wait, empty_in = 0, 0
local levels = {}
for i = 1, 2 do
  local rate, capacity = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local level = 0
  if capacity > 0 then
    level = math.max((tonumber(state[i]) or 0) - elapsed * rate, 0)
    level = math.max(level + tonumber(ARGV[4 + i]), 0)
    wait = math.max(wait, (level - capacity) / rate)
    empty_in = math.max(empty_in, level / rate)
  end
  levels[i] = string.format('%.17g', level)
end
redis.call('HSET', KEYS[1], 'requests', levels[1], 'tokens', levels[2],
  'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(empty_in * 1000) + 1000)
return math.ceil(wait * 1000000)
"""

Policy = Literal["open", "closed"]


class _RedisPermit(RatePermit, frozen=True, kw_only=True):
    """A permit whose charge is held in Redis (the fallback's permits are plain RatePermits)."""


class RedisRateLimiter(AsyncCloseable):
    """Shares requests and tokens per minute across processes through Redis.

    Each bucket holds up to one minute's budget, as RateLimiter's do: a quiet quota admits a
    burst of that size, then refills at the per-minute rate. Every process naming a `key`
    must give it the same limits. Close the limiter (`aclose`, or `async with`) when done;
    the RateLimit layers using it do not, since several may share it.

    Args:
        key: the quota's name; every process naming it shares one budget.
        url: the Redis URL (redis:// or rediss://); it may hold a password and is never shown.
        client: an existing `redis.asyncio.Redis` instead of `url` (it stays the caller's to
            close).
        requests_per_minute: calls allowed per minute, across all processes.
        tokens_per_minute: input plus output tokens allowed per minute, across all processes.
        max_concurrency: calls in flight at once in this process (not shared).
        on_redis_error: "open" to fall back to an in-process RateLimiter with the same limits
            while Redis fails, "closed" to raise NetworkError instead.
        timeout: seconds any one Redis call may take before it counts as a failure.
        recheck_interval: seconds after a failure before Redis is asked again.
    """

    def __init__(
        self,
        *,
        key: str,
        url: str | None = None,
        client: Redis | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
        on_redis_error: Policy = "open",
        timeout: float = 0.5,
        recheck_interval: float = 1.0,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        if (url is None) == (client is None):
            raise ValueError("RedisRateLimiter needs exactly one of url or client")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        if requests_per_minute is None and tokens_per_minute is None:
            raise ValueError(
                "RedisRateLimiter needs requests_per_minute or tokens_per_minute; for a "
                "concurrency cap alone use RateLimiter (concurrency is per process)"
            )
        if on_redis_error not in ("open", "closed"):
            raise ValueError(f"on_redis_error must be 'open' or 'closed', got {on_redis_error!r}")
        check_positive("timeout", timeout, integer=False)
        check_positive("recheck_interval", recheck_interval, integer=False)
        self.key = key
        self.on_redis_error: Policy = on_redis_error
        self.timeout = timeout
        self.recheck_interval = recheck_interval
        # Validates the three limits, and serves calls while Redis is down and the policy is open.
        self._local = RateLimiter(
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        check_positive("max_concurrency", max_concurrency, integer=True)
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_concurrency = max_concurrency
        self._limits = (
            *_bucket(requests_per_minute),
            *_bucket(tokens_per_minute),
        )
        self._client, self._owns_client = connect(url, client, timeout, owner="RedisRateLimiter")
        self._script = self._client.register_script(_BUCKETS_LUA)
        self._errors = redis_errors()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency is not None else None
        self._gate = asyncio.Lock()
        self._down = False
        self._next_check = 0.0
        self._clock: Callable[[], float] = time.monotonic
        self._calls = InFlight()

    async def acquire(self, *, input_tokens: int, output_tokens: int) -> RatePermit:
        """Waits for a slot, then (in arrival order) reserves a request and the tokens.

        Raises InvalidRequestError at once when the estimate exceeds the whole per-minute
        token budget, and NetworkError when Redis fails under the "closed" policy. Cancelled
        while waiting, it gives back everything it reserved.
        """
        tokens = check_token_budget(input_tokens, output_tokens, self.tokens_per_minute)
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self._slots is not None:
            await self._slots.acquire()
        try:
            async with self._gate:
                if await self._reserve(tokens):
                    permit: RatePermit = _RedisPermit(
                        tokens=tokens, input_tokens=input_tokens, waited_s=0.0
                    )
                else:
                    permit = await self._local.acquire(
                        input_tokens=input_tokens, output_tokens=output_tokens
                    )
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return msgspec.structs.replace(permit, waited_s=loop.time() - started)

    async def settle(self, permit: RatePermit, used_tokens: int) -> None:
        """Refunds an over-estimate or charges the excess (without waiting), frees the slot."""
        try:
            if isinstance(permit, _RedisPermit):
                await self._adjust(0, used_tokens - permit.tokens)
            else:
                await self._local.settle(permit, used_tokens)
        finally:
            if self._slots is not None:
                self._slots.release()

    async def release(self, permit: RatePermit) -> None:
        """Keeps the input estimate charged (the vendor may count it), refunds the rest."""
        try:
            if isinstance(permit, _RedisPermit):
                await self._adjust(0, permit.input_tokens - permit.tokens)
            else:
                await self._local.release(permit)
        finally:
            if self._slots is not None:
                self._slots.release()

    async def _reserve(self, tokens: int) -> bool:
        """Reserves in Redis and waits its turn; False when the in-process fallback must serve."""
        if self._down and self._clock() < self._next_check:
            if self.on_redis_error == "closed":
                raise self._unavailable("has been failing")
            return False
        try:
            wait_us = await self._charge(1, tokens)
        except self._errors as exc:
            self._failed(exc)
            if self.on_redis_error == "closed":
                raise self._unavailable(describe(exc)) from exc
            return False
        if wait_us > 0:
            try:
                await asyncio.sleep(wait_us / 1_000_000)
            except BaseException:
                await self._adjust(-1, -tokens)
                raise
        return True

    async def _adjust(self, requests: int, tokens: int) -> None:
        """Moves the shared buckets by a refund or charge; logs (never raises) a Redis failure.

        A settlement must not turn a finished call into a failure, so while Redis is down the
        adjustment is dropped: a refund is lost (the quota errs on the safe side) and an extra
        charge goes uncounted.
        """
        if self.tokens_per_minute is None:
            tokens = 0
        if self._down or (requests == 0 and tokens == 0):
            return
        try:
            await self._charge(requests, tokens)
        except self._errors as exc:
            self._failed(exc)

    async def _charge(self, requests: int, tokens: int) -> int:
        """Runs the bucket script once, bounded by `timeout`; returns the wait in microseconds.

        The command runs in its own task, shielded from the caller: redis-py can lose a
        cancellation that lands inside a command (it retries past it or reports a
        ConnectionError). A cancelled caller lets the command finish and, if it reserved,
        refunds the reservation before re-raising.
        """
        call = self._calls.start(
            self._script(keys=[KEY_PREFIX + self.key], args=[*self._limits, requests, tokens])
        )
        try:
            async with asyncio.timeout(self.timeout):
                wait_us = await asyncio.shield(call)
        except asyncio.CancelledError:
            if requests > 0:
                await asyncio.wait([call])
                if not call.cancelled() and call.exception() is None:
                    await self._adjust(-requests, -tokens)
            raise
        if self._down:
            self._down = False
            logger.info("Redis answers again; rate limit %r is shared again", self.key)
        return int(wait_us)

    def _failed(self, exc: BaseException) -> None:
        """Marks Redis down until the next check, warning once per outage."""
        if not self._down:
            fallback = (
                "using an in-process limiter with the same limits"
                if self.on_redis_error == "open"
                else "failing calls with NetworkError"
            )
            logger.warning(
                "Redis is unreachable for rate limit %r (%s); %s until it answers",
                self.key,
                describe(exc),
                fallback,
            )
        self._down = True
        self._next_check = self._clock() + self.recheck_interval

    def _unavailable(self, reason: str) -> NetworkError:
        """The error the "closed" policy raises while Redis fails."""
        return NetworkError(
            f"the Redis rate limiter for {self.key!r} is unreachable ({reason}); failing "
            f"closed until it answers",
            retry_after=self.recheck_interval,
            error_type="rate_limiter_unavailable",
        )

    async def aclose(self) -> None:
        """Closes the Redis connections this limiter opened (not a client it was given)."""
        await self._calls.wait()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        options = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("key", self.key),
                ("requests_per_minute", self.requests_per_minute),
                ("tokens_per_minute", self.tokens_per_minute),
                ("max_concurrency", self.max_concurrency),
                ("on_redis_error", self.on_redis_error),
            )
            if value is not None
        )
        return f"RedisRateLimiter({options})"


def _bucket(per_minute: float | None) -> tuple[float, float]:
    """Returns a bucket's (refill per second, capacity) script arguments; (0, 0) is no limit."""
    return (0.0, 0.0) if per_minute is None else (per_minute / 60, float(per_minute))
