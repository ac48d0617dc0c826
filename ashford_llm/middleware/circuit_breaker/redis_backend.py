"""RedisCircuitBackend: circuits shared by every process (and host) naming the same Redis.

A circuit is one Redis hash (state, when it opened, probes in flight) and sorted sets of the
failure times in its window (and, when the policy has a `failure_ratio`, of the success
times). They move only inside two Lua scripts (`_ADMIT_LUA`,
`_RECORD_LUA`), which Redis runs atomically and times with its own clock, so hosts need no
synchronised clocks, and each call costs one round trip before and one after. So a fleet of
workers opens a circuit together after `failure_threshold` failures among them all (or
the `failure_ratio` of their calls, once they made `minimum_calls`), and
stops calling a failing vendor together; half-open lets `half_open_max` probes through across
the fleet. A probe whose process died is given up after one cooldown, so a circuit cannot
stay half-open for good.

Every Redis call is bounded by `timeout`; when Redis fails, `on_redis_error` decides (as for
RedisRateLimiter): "open" (the default; fail open) keeps protecting each process with an
in-process MemoryCircuitBackend with the same settings, "closed" refuses calls with
NetworkError. Either way Redis is asked again `recheck_interval` seconds later, and one
WARNING is logged per outage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ashford_llm.errors import NetworkError
from ashford_llm.middleware._redis import InFlight, connect, describe, redis_errors
from ashford_llm.middleware.circuit_breaker.backend import (
    Admission,
    CircuitPolicy,
    CircuitState,
    MemoryCircuitBackend,
    Outcome,
)
from ashford_llm.middleware.rate_limit.limiter import check_positive
from ashford_llm.protocol import AsyncCloseable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisCircuitBackend"]

logger = logging.getLogger("ashford_llm")

KEY_PREFIX = "ashford_llm:circuit:"
"""Prefixed to a circuit's key to name its hash (and, with `:failures` and `:successes`, its
sorted sets)."""

# ARGV: cooldown seconds, half_open_max, ttl ms. Returns {allowed, probe, retry_after in
# microseconds or -1, state entered or ''}. An open circuit past its cooldown turns half-open;
# probes taken more than a cooldown ago are taken as lost with their process.
_ADMIT_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stamp = string.format('%.17g', now)
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return {1, 0, -1, ''} end
local cooldown, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local entered = ''
if state == 'open' then
  local left = tonumber(redis.call('HGET', KEYS[1], 'opened_at')) + cooldown - now
  if left > 0 then return {0, 0, math.ceil(left * 1000000), ''} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probes', 0, 'probe_at', stamp)
  entered = 'half_open'
end
local probes = tonumber(redis.call('HGET', KEYS[1], 'probes')) or 0
local probe_at = tonumber(redis.call('HGET', KEYS[1], 'probe_at')) or now
if probes >= most and now - probe_at > cooldown then probes = 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if probes < most then
  redis.call('HSET', KEYS[1], 'probes', probes + 1, 'probe_at', stamp)
  return {1, 1, -1, entered}
end
return {0, 0, -1, entered}
"""

# KEYS: the hash, the failures' and the successes' sorted sets. ARGV: outcome, probe (1 or 0),
# failure_threshold, window seconds, ttl ms, a unique member, failure_ratio (-1 for none),
# minimum_calls. Returns the state entered, or ''. Successes are kept only with a ratio, and
# only a failure can open the circuit (as CircuitPolicy.trips says).
_RECORD_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stamp = string.format('%.17g', now)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local outcome = ARGV[1]
if ARGV[2] == '1' then
  if state ~= 'half_open' then return '' end
  if outcome == 'abandoned' then
    local probes = tonumber(redis.call('HGET', KEYS[1], 'probes')) or 0
    redis.call('HSET', KEYS[1], 'probes', math.max(probes - 1, 0))
    return ''
  end
  redis.call('DEL', KEYS[2], KEYS[3])
  if outcome == 'success' then
    redis.call('DEL', KEYS[1])
    return 'closed'
  end
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', stamp, 'probes', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 'open'
end
if outcome == 'abandoned' or state ~= 'closed' then return '' end
local ratio = tonumber(ARGV[7])
if outcome == 'success' and ratio < 0 then return '' end
local window = tonumber(ARGV[4])
local since = string.format('%.17g', now - window)
local keep = math.ceil(window * 1000) + 1000
redis.call('ZADD', outcome == 'failure' and KEYS[2] or KEYS[3], stamp, ARGV[6])
local counts = {}
for i = 2, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', since)
  counts[i] = redis.call('ZCARD', KEYS[i])
  if counts[i] > 0 then redis.call('PEXPIRE', KEYS[i], keep) end
end
local failures, calls = counts[2], counts[2] + counts[3]
if outcome ~= 'failure' or failures < tonumber(ARGV[3]) then return '' end
if ratio >= 0 and (calls < tonumber(ARGV[8]) or failures / calls < ratio) then return '' end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', stamp, 'probes', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 'open'
"""

Policy = Literal["open", "closed"]


class _SharedAdmission(Admission, frozen=True, kw_only=True):
    """An admission Redis gave (the in-process fallback's are plain Admissions)."""


class RedisCircuitBackend(AsyncCloseable):
    """Keeps circuits in Redis, so every process naming the same circuit shares it.

    Every process must give a circuit the same settings (the scripts apply the caller's).
    Close the backend (`aclose`, or `async with`) when done; the layers using it do not.

    Args:
        url: the Redis URL (redis:// or rediss://); it may hold a password and is never shown.
        client: an existing `redis.asyncio.Redis` instead of `url` (it stays the caller's).
        on_redis_error: "open" to keep each process's calls judged by an in-process
            MemoryCircuitBackend while Redis fails, "closed" to refuse them with NetworkError.
        timeout: seconds any one Redis call may take before it counts as a failure.
        recheck_interval: seconds after a failure before Redis is asked again.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: Redis | None = None,
        on_redis_error: Policy = "open",
        timeout: float = 0.5,
        recheck_interval: float = 1.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisCircuitBackend needs exactly one of url or client")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        if on_redis_error not in ("open", "closed"):
            raise ValueError(f"on_redis_error must be 'open' or 'closed', got {on_redis_error!r}")
        check_positive("timeout", timeout, integer=False)
        check_positive("recheck_interval", recheck_interval, integer=False)
        self.on_redis_error: Policy = on_redis_error
        self.timeout = timeout
        self.recheck_interval = recheck_interval
        self._local = MemoryCircuitBackend()
        self._client, self._owns_client = connect(url, client, timeout, owner="RedisCircuitBackend")
        self._admit_script = self._client.register_script(_ADMIT_LUA)
        self._record_script = self._client.register_script(_RECORD_LUA)
        self._errors = redis_errors()
        self._down = False
        self._next_check = 0.0
        self._clock: Callable[[], float] = time.monotonic
        self._calls = InFlight()

    async def admit(self, key: str, policy: CircuitPolicy, *, now: float) -> Admission:
        """Decides in Redis (or, failing open, in process) whether a call may go now."""
        if self._usable():
            try:
                allowed, probe, retry_us, entered = await self._run(
                    self._admit_script,
                    [KEY_PREFIX + key],
                    [policy.cooldown, policy.half_open_max, _ttl_ms(policy)],
                )
            except self._errors as exc:
                self._failed(exc)
                if self.on_redis_error == "closed":
                    raise self._unavailable(key, describe(exc)) from exc
            else:
                return _SharedAdmission(
                    allowed=bool(allowed),
                    probe=bool(probe),
                    retry_after=None if int(retry_us) < 0 else int(retry_us) / 1_000_000,
                    entered=_state(entered),
                )
        elif self.on_redis_error == "closed":
            raise self._unavailable(key, "has been failing")
        return await self._local.admit(key, policy, now=now)

    async def record(
        self, key: str, policy: CircuitPolicy, admission: Admission, outcome: Outcome, *, now: float
    ) -> CircuitState | None:
        """Applies the outcome where the call was admitted; a Redis failure is logged, dropped.

        An outcome must not turn a finished call into a failure, so while Redis is down it
        is lost (a failure goes uncounted; a probe is given up after one cooldown).
        """
        if not isinstance(admission, _SharedAdmission):
            return await self._local.record(key, policy, admission, outcome, now=now)
        if self._down:
            return None
        try:
            entered = await self._run(
                self._record_script,
                [KEY_PREFIX + key, KEY_PREFIX + key + ":failures", KEY_PREFIX + key + ":successes"],
                [
                    outcome,
                    int(admission.probe),
                    policy.failure_threshold,
                    policy.window,
                    _ttl_ms(policy),
                    secrets.token_hex(8),
                    -1 if policy.failure_ratio is None else policy.failure_ratio,
                    policy.minimum_calls,
                ],
            )
        except self._errors as exc:
            self._failed(exc)
            return None
        return _state(entered)

    async def state(self, key: str) -> CircuitState:
        """Returns the circuit's state in Redis (closed for a circuit Redis does not hold)."""
        raw = await self._client.hget(KEY_PREFIX + key, "state")
        return _state(raw) or CircuitState.closed

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Runs a script once, bounded by `timeout`, shielded from the caller's cancellation.

        redis-py can lose a cancellation that lands inside a command, so the command runs in
        its own task; a cancelled caller leaves it to finish.
        """
        call = self._calls.start(script(keys=keys, args=args))
        async with asyncio.timeout(self.timeout):
            result = await asyncio.shield(call)
        if self._down:
            self._down = False
            logger.info("Redis answers again; circuits are shared again")
        return result

    def _usable(self) -> bool:
        """Says whether to ask Redis now (it is up, or its recheck time has come)."""
        return not self._down or self._clock() >= self._next_check

    def _failed(self, exc: BaseException) -> None:
        """Marks Redis down until the next check, warning once per outage."""
        if not self._down:
            fallback = (
                "judging calls with an in-process circuit"
                if self.on_redis_error == "open"
                else "refusing calls with NetworkError"
            )
            logger.warning(
                "Redis is unreachable for circuit breakers (%s); %s until it answers",
                describe(exc),
                fallback,
            )
        self._down = True
        self._next_check = self._clock() + self.recheck_interval

    def _unavailable(self, key: str, reason: str) -> NetworkError:
        """The error the "closed" policy raises while Redis fails."""
        return NetworkError(
            f"the Redis circuit breaker for {key!r} is unreachable ({reason}); failing "
            f"closed until it answers",
            retry_after=self.recheck_interval,
            error_type="circuit_backend_unavailable",
        )

    async def aclose(self) -> None:
        """Closes the Redis connections this backend opened (not a client it was given)."""
        await self._calls.wait()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisCircuitBackend(on_redis_error={self.on_redis_error!r})"


def _ttl_ms(policy: CircuitPolicy) -> int:
    """How long a circuit's hash outlives its last change: two cooldowns and a window."""
    return math.ceil((2 * policy.cooldown + policy.window) * 1000)


def _state(raw: Any) -> CircuitState | None:
    """Reads a state a script returned ('' or nil for none)."""
    if isinstance(raw, bytes):
        raw = raw.decode()
    return CircuitState(raw) if raw else None
