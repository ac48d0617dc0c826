"""Cache: serves an exact repeat of an earlier request from its stored answer.

For idempotent job re-runs: a job that is run again after a crash, or a pipeline re-run over
the same inputs, gets the answers it already paid for. The key is exact (see `key`); only
use it where the same request should get the same answer, which is not true of sampling
(`temperature` > 0, or `top_p` below 1): a cached answer freezes one sample.

Only complete, successful answers are stored: a `complete` that returned, a stream that
reached its StreamEnd, with finish reason "stop" or "tool_calls" (never a truncated
"length" answer). A stream served from the cache replays the answer as deltas (reasoning,
text and tool-call deltas in the answer's order, one per part), then its StreamEnd; a
`complete` and a stream of the same request share one entry.

Concurrent identical misses make one vendor call (single flight, within this process): the
first caller calls, the others wait for its answer. If that call fails, every waiter gets
the same error (the answer they asked for cannot be had now: their own call would have
met the same failure, and a burst of identical retries is what the cache is there to
avoid). If the first caller is cancelled, or closes its stream before the end, a waiter
takes over and makes the call itself, so nobody is left with another task's cancellation.

A hit is marked `response.cached = True`, on the current span (`ashford.cache.hit`) and in
the `ashford.cache.lookups` counter (attribute `ashford.cache.hit`). `parsed` is never
stored (its Python type cannot be rebuilt), and `cost` says what the answer cost when it
was made: a hit spends nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec
from opentelemetry import metrics, trace

from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware, check_seconds, format_option
from ashford_llm.middleware.cache.backends import CacheBackend, MemoryCache
from ashford_llm.middleware.cache.key import cache_key
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    ReasoningDelta,
    ReasoningPart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["Cache", "replay"]

_STORED_FINISH = frozenset(("stop", "tool_calls"))
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(CompletionResponse)
_ARGUMENTS = msgspec.json.Encoder()


class Cache(Middleware):
    """Answers exact repeats from a cache, and makes one call for concurrent identical misses.

    Args:
        inner: the handler to wrap.
        backend: where answers are kept: a MemoryCache (None makes one of 1,024 entries
            for this layer), a RedisCache to share across processes, or another
            CacheBackend. The layer never closes it.
        ttl: seconds an answer stays servable; None keeps it until the backend evicts it.
        meter_provider: where the lookup counter goes; None uses the global one.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *,
        backend: CacheBackend | None = None,
        ttl: float | None = 86400.0,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        super().__init__(inner)
        if backend is not None and not isinstance(backend, CacheBackend):
            raise TypeError(f"backend must be a CacheBackend, got {type(backend).__name__}")
        self.ttl = check_seconds("ttl", ttl, positive=True, allow_none=True)
        self.backend: CacheBackend = backend if backend is not None else MemoryCache()
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(sc.SCOPE_NAME)
        self._lookups = meter.create_counter(
            sc.CACHE_LOOKUPS, sc.CACHE_LOOKUPS_UNIT, sc.CACHE_LOOKUPS_DESCRIPTION
        )
        info = inner.info
        self._attributes: dict[str, str] = {sc.PROVIDER_NAME: info.otel_provider_name or info.name}
        if info.model:
            self._attributes[sc.REQUEST_MODEL] = info.model
        self._flights: dict[str, asyncio.Future[CompletionResponse]] = {}

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the cached answer, another caller's answer to the same request, or a new one."""
        key = cache_key(request, self.info)
        found = await self._find(key)
        if found is not None:
            return found
        flight = self._lead(key)
        try:
            response = await self.inner.complete(request)
            flight.set_result(response)
            await self._store(key, response)
        except BaseException as error:
            _end_flight(flight, error)
            raise
        finally:
            self._land(key, flight)
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Replays a cached answer as deltas, or streams from the inner handler and stores it."""
        key = cache_key(request, self.info)
        found = await self._find(key)
        if found is not None:
            for event in replay(found):
                yield event
            return
        flight = self._lead(key)
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    flight.set_result(event.response)
                    await self._store(key, event.response)
                yield event
        except BaseException as error:
            _end_flight(flight, error)
            raise
        finally:
            try:
                await events.aclose()
            finally:
                _end_flight(flight, None)
                self._land(key, flight)

    async def _find(self, key: str) -> CompletionResponse | None:
        """Returns a stored or in-flight answer (marked cached), or None: the caller leads.

        Waits for an identical call in flight; if its caller was cancelled, looks again
        (and so may lead the call itself).
        """
        while True:
            stored = await self.backend.get(key)
            if stored is not None:
                response = _decode(stored)
                if response is not None:
                    return self._hit(response)
            flight = self._flights.get(key)
            if flight is None:
                self._count(hit=False)
                return None
            try:
                return self._hit(await asyncio.shield(flight))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise  # this caller was cancelled, not the one it waited for

    def _lead(self, key: str) -> asyncio.Future[CompletionResponse]:
        """Registers this caller's call as the one identical requests wait for."""
        flight: asyncio.Future[CompletionResponse] = asyncio.get_running_loop().create_future()
        flight.add_done_callback(_retrieve)
        self._flights[key] = flight
        return flight

    def _land(self, key: str, flight: asyncio.Future[CompletionResponse]) -> None:
        """Forgets a finished call (the next identical request reads the backend)."""
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _hit(self, response: CompletionResponse) -> CompletionResponse:
        """Marks and counts a hit."""
        self._count(hit=True)
        return msgspec.structs.replace(response, cached=True)

    def _count(self, *, hit: bool) -> None:
        """Counts a lookup and marks the current span with its outcome."""
        self._lookups.add(1, {**self._attributes, sc.CACHE_HIT: hit})
        trace.get_current_span().set_attribute(sc.CACHE_HIT, hit)

    async def _store(self, key: str, response: CompletionResponse) -> None:
        """Stores a complete answer (never `parsed`, which cannot be rebuilt)."""
        if response.finish_reason in _STORED_FINISH:
            stored = msgspec.structs.replace(response, parsed=None, cached=False)
            await self.backend.set(key, _ENCODER.encode(stored), ttl=self.ttl)

    def describe(self) -> str:
        """Returns this layer alone, e.g. `Cache(backend=MemoryCache(...), ttl=86400)`."""
        return f"Cache(backend={self.backend!r}, ttl={format_option(self.ttl)})"


def replay(response: CompletionResponse) -> list[StreamEvent]:
    """Returns the stream events that deliver `response`: one delta per part, then StreamEnd."""
    events: list[StreamEvent] = []
    calls = 0
    for part in response.parts:
        if type(part) is TextPart and part.text:
            events.append(TextDelta(part.text))
        elif type(part) is ReasoningPart and part.text:
            events.append(ReasoningDelta(part.text))
        elif type(part) is ToolCall:
            arguments = _ARGUMENTS.encode(part.arguments).decode()
            events.append(ToolCallDelta(calls, part.id, part.name, arguments))
            calls += 1
    events.append(StreamEnd(response))
    return events


def _decode(stored: bytes) -> CompletionResponse | None:
    """Decodes a stored answer; one that does not decode is a miss (and is overwritten)."""
    try:
        return _DECODER.decode(stored)
    except (msgspec.DecodeError, ValueError, TypeError):
        return None


def _end_flight(flight: asyncio.Future[CompletionResponse], error: BaseException | None) -> None:
    """Ends a call that gave no answer: waiters take over after a cancellation or an
    abandoned stream (`error` None or CancelledError), and get any other error."""
    if flight.done():
        return
    if error is None or isinstance(error, asyncio.CancelledError | GeneratorExit):
        flight.cancel()
    else:
        flight.set_exception(error)


def _retrieve(flight: asyncio.Future[CompletionResponse]) -> None:
    """Marks a failed call's error as seen: its waiters re-raise it, or there were none."""
    if not flight.cancelled():
        flight.exception()
