"""Recorder: keeps every call that passes through it, for assertions and cassettes.

Where it belongs: where you want to see calls. Outermost, it records what the caller saw
(one entry per call, `attempts` from Retry); just above the terminal, it records every
attempt as the vendor answered it, which is the recording to replay under a full stack.
`save(path)` writes a cassette that `ashford_llm.testing.Replay` serves back, so a suite
can record once against a real provider and replay forever.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, Callable
from typing import Literal

from ashford_llm.cassette import Cassette, RecordedCall, RecordedError, RecordedRequest
from ashford_llm.errors import LLMError
from ashford_llm.middleware._base import Middleware
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["RecordedCall", "Recorder"]


class Recorder(Middleware):
    """Records each call (request, response or stream events or error, attempts, timing).

    Calls are appended to `.calls` when they finish, so concurrent calls appear in the
    order they ended. Exceptions are recorded and re-raised unchanged, LLMErrors and others
    alike; error texts pass through `redact`. A stream the consumer stops early (or that is
    cancelled) is recorded with the events it saw; a cancelled `complete` is not recorded.
    Requests are kept as RecordedRequests: attachments as their SHA-256 and size, so no
    attachment bytes stay in memory or reach a cassette.

    Args:
        inner: the handler to call.
        clock: monotonic seconds, for `duration_ms`.
        wall_clock: Unix seconds, for `started_at`.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(inner)
        if not callable(clock) or not callable(wall_clock):
            raise TypeError("Recorder clock and wall_clock must be callables returning seconds")
        self.clock = clock
        self.wall_clock = wall_clock
        self.calls: list[RecordedCall] = []

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Calls the inner handler and records the response or the error."""
        started_at, start = self.wall_clock(), self.clock()
        try:
            response = await self.inner.complete(request)
        except Exception as error:
            self._record(request, "complete", started_at, start, error=error)
            raise
        self._record(request, "complete", started_at, start, response=response)
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Passes the stream through, recording its events and any error."""
        started_at, start = self.wall_clock(), self.clock()
        events: list[StreamEvent] = []
        error: Exception | None = None
        inner = self.inner.stream(request)
        try:
            async for event in inner:
                events.append(event)
                yield event
        except Exception as raised:
            error = raised
            raise
        finally:
            await inner.aclose()
            self._record(request, "stream", started_at, start, events=events, error=error)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the recorded calls as a cassette (JSON; no credential, no `parsed`)."""
        Cassette(provider=self.name, calls=tuple(self.calls)).save(path)

    def _record(
        self,
        request: CompletionRequest,
        kind: Literal["complete", "stream"],
        started_at: float,
        start: float,
        *,
        response: CompletionResponse | None = None,
        events: list[StreamEvent] | None = None,
        error: Exception | None = None,
    ) -> None:
        """Appends one finished call to `.calls`."""
        attempts = 1
        if response is not None:
            attempts = response.attempts
        elif error is not None and isinstance(error, LLMError) and error.attempts is not None:
            attempts = error.attempts
        elif events and isinstance(events[-1], StreamEnd):
            attempts = events[-1].response.attempts
        self.calls.append(
            RecordedCall(
                request=RecordedRequest.of(request),
                kind=kind,
                response=response,
                events=tuple(events or ()),
                error=None if error is None else RecordedError.from_exception(error),
                attempts=attempts,
                started_at=started_at,
                duration_ms=(self.clock() - start) * 1000,
            )
        )
