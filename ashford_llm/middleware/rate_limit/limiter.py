"""The limiter behind RateLimit: request and token buckets, a concurrency cap, a fair gate.

`LimiterBackend` is the seam: RateLimit only calls `acquire`, then exactly one of `settle`
(the call succeeded, its real usage is known) or `release` (it failed or was abandoned).
`RateLimiter` is the in-process backend, built on aiolimiter's leaky buckets; one instance
can be shared by several stacks that draw on one vendor quota. A backend over a shared store
(Redis, `RedisRateLimiter`) implements the same three methods.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol, runtime_checkable

import msgspec
from aiolimiter import AsyncLimiter

from ashford_llm.errors import InvalidRequestError

__all__ = ["LimiterBackend", "RateLimiter", "RatePermit"]


class RatePermit(msgspec.Struct, frozen=True, kw_only=True):
    """What one call was granted: the tokens charged for it, and how long it waited.

    `tokens` is the whole charge (input estimate plus output allowance); `input_tokens` the
    input estimate alone, which stays charged when the call fails.
    """

    tokens: int
    input_tokens: int
    waited_s: float


@runtime_checkable
class LimiterBackend(Protocol):
    """Grants permits for calls and settles them against real usage afterwards."""

    async def acquire(self, *, input_tokens: int, output_tokens: int) -> RatePermit:
        """Waits for a permit to make one call charging the given token estimates."""
        ...

    async def settle(self, permit: RatePermit, used_tokens: int) -> None:
        """Ends a successful call: corrects the token charge to `used_tokens`, frees its slot."""
        ...

    async def release(self, permit: RatePermit) -> None:
        """Ends a failed or abandoned call: refunds its output allowance, frees its slot."""
        ...


class RateLimiter:
    """Limits requests and tokens per minute and calls in flight, serving callers in order.

    aiolimiter wakes its waiters smallest request first, so a steady flow of small requests
    could starve a large one; here a FIFO lock in front of the buckets makes callers take
    permits in arrival order (a caller with nobody queued and room in the buckets takes its
    permit at once). Each bucket holds up to one minute's budget, so a quiet limiter
    admits a burst of that size, then refills at the per-minute rate. Like aiolimiter and
    asyncio's locks, an instance belongs to the event loop that first uses it: share it
    between stacks of one loop, and make one per loop (or a RedisRateLimiter) otherwise.

    Args:
        requests_per_minute: calls allowed per minute; None for no limit.
        tokens_per_minute: tokens (input plus output) allowed per minute; None for no limit.
        max_concurrency: calls in flight at once (a stream counts until it ends or is
            closed); None for no limit.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        if requests_per_minute is None and tokens_per_minute is None and max_concurrency is None:
            raise ValueError(
                "RateLimiter needs at least one of requests_per_minute, tokens_per_minute "
                "or max_concurrency"
            )
        check_positive("requests_per_minute", requests_per_minute, integer=False)
        check_positive("tokens_per_minute", tokens_per_minute, integer=True)
        check_positive("max_concurrency", max_concurrency, integer=True)
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_concurrency = max_concurrency
        self._requests = _request_bucket(requests_per_minute)
        self._tokens = (
            AsyncLimiter(tokens_per_minute, 60) if tokens_per_minute is not None else None
        )
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency is not None else None
        self._gate = asyncio.Lock()
        self._queued = 0  # callers waiting for or holding the gate

    async def acquire(self, *, input_tokens: int, output_tokens: int) -> RatePermit:
        """Waits for a slot, then (in arrival order) a request and the estimated tokens.

        Raises InvalidRequestError at once when the estimate exceeds the whole per-minute
        token budget, which no wait could satisfy. Cancelled while waiting, it gives back
        everything it already took.
        """
        tokens = check_token_budget(input_tokens, output_tokens, self.tokens_per_minute)
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self._slots is not None:
            await self._slots.acquire()
        try:
            # Nobody queued and room in both buckets: take the permit without the gate.
            if self._queued or not self._take_now(tokens):
                self._queued += 1
                try:
                    await self._take_in_order(tokens)
                finally:
                    self._queued -= 1
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return RatePermit(tokens=tokens, input_tokens=input_tokens, waited_s=loop.time() - started)

    def _take_now(self, tokens: int) -> bool:
        """Charges one request and `tokens` at once if both buckets have room; says if it did."""
        requests, budget = self._requests, self._tokens
        if (requests is not None and not requests.has_capacity(1)) or (
            budget is not None and not budget.has_capacity(tokens)
        ):
            return False
        if requests is not None:
            adjust_level(requests, 1)
        if budget is not None:
            adjust_level(budget, tokens)
        return True

    async def _take_in_order(self, tokens: int) -> None:
        """Waits behind earlier callers, then for one request and `tokens` from the buckets."""
        async with self._gate:
            if self._requests is not None:
                await self._requests.acquire(1)
            try:
                if self._tokens is not None:
                    await self._tokens.acquire(tokens)
            except BaseException:
                if self._requests is not None:
                    adjust_level(self._requests, -1)
                raise

    async def settle(self, permit: RatePermit, used_tokens: int) -> None:
        """Refunds an over-estimate or charges the excess (without waiting), frees the slot."""
        if self._tokens is not None:
            adjust_level(self._tokens, used_tokens - permit.tokens)
        if self._slots is not None:
            self._slots.release()

    async def release(self, permit: RatePermit) -> None:
        """Keeps the input estimate charged (the vendor may count it), refunds the rest."""
        if self._tokens is not None:
            adjust_level(self._tokens, permit.input_tokens - permit.tokens)
        if self._slots is not None:
            self._slots.release()

    def __repr__(self) -> str:
        options = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("requests_per_minute", self.requests_per_minute),
                ("tokens_per_minute", self.tokens_per_minute),
                ("max_concurrency", self.max_concurrency),
            )
            if value is not None
        )
        return f"RateLimiter({options})"


def _request_bucket(requests_per_minute: float | None) -> AsyncLimiter | None:
    """Returns the request bucket; a rate below one per minute holds one request at a time."""
    if requests_per_minute is None:
        return None
    if requests_per_minute < 1:
        return AsyncLimiter(1, 60 / requests_per_minute)
    return AsyncLimiter(requests_per_minute, 60)


def check_token_budget(input_tokens: int, output_tokens: int, tokens_per_minute: int | None) -> int:
    """Returns a call's whole token charge; raises if it exceeds the per-minute budget.

    No wait could satisfy such a call, so it fails at once with InvalidRequestError.
    """
    tokens = input_tokens + output_tokens
    if tokens_per_minute is not None and tokens > tokens_per_minute:
        raise InvalidRequestError(
            f"request needs an estimated {tokens} tokens ({input_tokens} input + "
            f"{output_tokens} max output), more than the whole budget of "
            f"{tokens_per_minute} tokens per minute; lower max_tokens or shorten it",
            error_type="exceeds_token_budget",
        )
    return tokens


def adjust_level(bucket: AsyncLimiter, delta: float) -> None:
    """Moves a bucket's level by `delta` now, never below empty, and re-times its waiters.

    aiolimiter has no public way to refund or to charge without waiting, so this is the one
    place that touches its private state. A level above the budget is a debt that later
    callers wait off.
    """
    bucket._leak()
    bucket._level = max(bucket._level + delta, 0.0)
    bucket._wake_next()


def check_positive(name: str, value: float | None, *, integer: bool) -> None:
    """Rejects an option that is set but not a positive (finite) number."""
    if value is None:
        return
    kind = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
