"""RedisBudget: budgets shared across processes and hosts through Redis (the `redis` extra).

Each reservation is one Lua script, so the check against the limit and the charge are atomic
across every process: two processes can never both take the last dollar. The window is
taken from the Redis server's clock, so hosts with skewed clocks agree on it. Spend lives in
one integer key per budget key and window, which expires once its window is over.

Redis failing fails closed: a reservation raises NetworkError (retryable: the job can try
again once Redis answers), since a budget that admits calls it cannot count is no budget. A
settlement that fails is logged and dropped (the reservation stays charged: the budget errs
on the safe side), so a finished call never turns into an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ashford_llm.errors import NetworkError
from ashford_llm.middleware._redis import InFlight, connect, describe, redis_errors
from ashford_llm.middleware.cost.budget import BudgetHold
from ashford_llm.middleware.rate_limit.limiter import check_positive
from ashford_llm.protocol import AsyncCloseable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisBudget"]

logger = logging.getLogger("ashford_llm")

KEY_PREFIX = "ashford_llm:budget:"
"""Prefixed to a budget key (then its window length and index) to name its Redis key."""

# Finds the current window by the server's clock, charges ARGV[2] if the spend stays within
# ARGV[3], and returns {granted, spent before, window index, seconds until the window ends}.
_RESERVE_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
local index = math.floor(now / window)
local key = KEYS[1] .. ':' .. string.format('%d', index)
local spent = tonumber(redis.call('GET', key) or '0')
local resets_in = (index + 1) * window - now
if spent + tonumber(ARGV[2]) > tonumber(ARGV[3]) then
  return {0, spent, index, tostring(resets_in)}
end
redis.call('INCRBY', key, ARGV[2])
redis.call('PEXPIRE', key, math.ceil((resets_in + 60) * 1000))
return {1, spent, index, tostring(resets_in)}
"""

# Moves a window's spend by ARGV[1] (never below zero); a window already expired stays gone.
_SETTLE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('INCRBY', KEYS[1], ARGV[1]) < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
return 1
"""


class RedisBudget(AsyncCloseable):
    """Holds budget spend in Redis, so every process naming a key shares one budget.

    Close it (`aclose`, or `async with`) when done; the Budget layers using it do not.

    Args:
        url: the Redis URL (redis:// or rediss://); it may hold a password and is never shown.
        client: an existing `redis.asyncio.Redis` instead of `url` (it stays the caller's).
        timeout: seconds any one Redis call may take before it counts as a failure.
    """

    def __init__(
        self, *, url: str | None = None, client: Redis | None = None, timeout: float = 0.5
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisBudget needs exactly one of url or client")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        check_positive("timeout", timeout, integer=False)
        self.timeout = timeout
        self._client, self._owns_client = connect(url, client, timeout, owner="RedisBudget")
        self._reserve_script = self._client.register_script(_RESERVE_LUA)
        self._settle_script = self._client.register_script(_SETTLE_LUA)
        self._errors = redis_errors()
        self._calls = InFlight()

    async def reserve(self, key: str, amount: int, *, limit: int, window: float) -> BudgetHold:
        """Charges `amount` in Redis if the key's spend stays within `limit`.

        Raises NetworkError when Redis fails. A caller cancelled while the script runs lets
        it finish and gives back what it reserved.
        """
        name = _redis_key(key, window)
        call = self._run(self._reserve_script, name, [repr(window), amount, limit])
        try:
            async with asyncio.timeout(self.timeout):
                granted, spent, index, resets_in = await asyncio.shield(call)
        except asyncio.CancelledError:
            await asyncio.wait([call])
            if not call.cancelled() and call.exception() is None and call.result()[0]:
                index = int(call.result()[2])
                await self._settle(f"{name}:{index}", -amount)
            raise
        except self._errors as exc:
            raise NetworkError(
                f"the Redis budget for {key!r} is unreachable ({describe(exc)}); refusing "
                "calls until it answers",
                error_type="budget_unavailable",
            ) from exc
        return BudgetHold(
            key=key,
            window_s=window,
            window=int(index),
            amount=amount,
            granted=bool(granted),
            spent=int(spent),
            resets_in=float(resets_in),
        )

    async def settle(self, hold: BudgetHold, amount: int) -> None:
        """Corrects a granted reservation to `amount`; logs (never raises) a Redis failure."""
        if hold.granted and amount != hold.amount:
            await self._settle(
                f"{_redis_key(hold.key, hold.window_s)}:{hold.window}", amount - hold.amount
            )

    async def _settle(self, name: str, delta: int) -> None:
        """Moves one window's spend by `delta`, bounded by `timeout`."""
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(self._run(self._settle_script, name, [delta]))
        except self._errors as exc:
            logger.warning(
                "Redis budget settlement dropped (%s); the reservation stays charged",
                describe(exc),
            )

    def _run(self, script: Any, name: str, args: list[Any]) -> asyncio.Future[Any]:
        """Runs a script in its own task, so a cancelled caller cannot cut it in half."""
        return self._calls.start(script(keys=[name], args=args))

    async def aclose(self) -> None:
        """Waits for scripts in flight; closes the connections it opened (not a given client)."""
        await self._calls.wait()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisBudget(timeout={self.timeout!r})"


def _redis_key(key: str, window: float) -> str:
    """Names a budget key's spend for windows of `window` seconds (without the index)."""
    return f"{KEY_PREFIX}{key}:{window:g}"
