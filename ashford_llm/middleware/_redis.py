"""What the Redis-shared layers have in common: the client, its failures and their text.

RedisRateLimiter, RedisCircuitBackend, RedisCache and RedisBudget each connect the same way
and judge a failure the same way; each keeps its own failure policy. The redis package is
imported only inside these functions, so `import ashford_llm` never loads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from ashford_llm.errors import redact

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")

__all__ = ["InFlight", "connect", "describe", "redis_errors", "retrieve"]


def connect(
    url: str | None, client: Redis | None, timeout: float, *, owner: str
) -> tuple[Redis, bool]:
    """Returns the client to use and whether `owner` owns it, importing redis lazily."""
    if client is not None:
        return client, False
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:
        raise ImportError(
            f"{owner} needs the redis package: pip install 'ashford-llm[redis]'"
        ) from exc
    assert url is not None
    # One immediate retry replaces a connection a Redis restart left stale; no backoff, since
    # `timeout` bounds the whole call and each layer has its own recheck interval.
    redis: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )
    return redis, True


def redis_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean Redis failed: its own, the socket's and our timeout."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


def retrieve(call: asyncio.Future[Any]) -> None:
    """Marks a finished command's exception as seen; its caller reports it, or has gone."""
    if not call.cancelled():
        call.exception()


def describe(exc: BaseException) -> str:
    """Names a Redis failure for a log line or an error message, without any secret."""
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class InFlight:
    """Redis commands running in their own tasks, which closing waits for.

    redis-py can lose a cancellation that lands inside a command, so each command runs in
    a task of its own (the caller awaits it shielded); a cancelled caller leaves it to
    finish, and its exception is marked seen (the caller reports it, or has gone).
    """

    def __init__(self) -> None:
        self._calls: set[asyncio.Future[Any]] = set()

    def start(self, command: Awaitable[T]) -> asyncio.Future[T]:
        """Runs `command` in its own task and keeps it until it ends."""
        call = asyncio.ensure_future(command)
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        call.add_done_callback(retrieve)
        return call

    async def wait(self) -> None:
        """Waits for every command still running."""
        if self._calls:
            await asyncio.wait(self._calls)
