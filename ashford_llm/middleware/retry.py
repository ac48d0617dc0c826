"""Retry: repeats calls that failed with a RetryableError, with backoff and a time budget.

Where it belongs: inside Tracing (one span covers every attempt and carries a retry event
per retry) and outside Timeout, so each attempt gets its own deadline and a timed-out attempt
is tried again; a Timeout outside Retry bounds the whole call, backoff sleeps included.
RateLimit inside Retry makes every attempt take a permit; JsonValidation inside Retry makes
output that is not the JSON asked for cost one more attempt. Use one Retry per stack:
nested Retry layers multiply their attempts (the builder warns).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable

import msgspec
from opentelemetry import trace

from ashford_llm.errors import (
    AuthenticationError,
    FatalError,
    LLMError,
    MidStreamError,
    RetryableError,
)
from ashford_llm.middleware._base import Middleware, check_seconds
from ashford_llm.middleware._semconv import ERROR_TYPE, RETRY_ATTEMPT, RETRY_DELAY_S, RETRY_EVENT
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = ["Retry", "RetryEvent"]

logger = logging.getLogger("ashford_llm")


class RetryEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One retry about to happen, as `on_retry` sees it.

    `attempt` is the attempt that failed (1 for the first call); the retry is attempt + 1.
    `delay` is the wait in seconds before it.
    """

    attempt: int
    error: LLMError
    delay: float


class Retry(Middleware):
    """Retries RetryableErrors with exponential backoff and full jitter, within a budget.

    The wait before retry n is `jitter() * min(max_delay, base_delay * 2**(n-1))` (full
    jitter), and at least the error's `retry_after`. FatalErrors, errors whose vendor said
    `x-should-retry: false`, and exceptions that are not LLMErrors are never retried; nor, by
    default, is an AuthenticationError: the provider already refreshed the credential once
    and sent the request again when that gave a new key, so the same key would be rejected
    again in a moment. It stays retryable for a job system, which retries later, when a
    rotated key may fix it. A
    `retry_after` longer than `max_delay` or than what is left of the budget re-raises at
    once; so does any wait that would end after the budget. A stream is retried only while
    nothing has reached the caller; a retryable failure after that raises MidStreamError with
    the partial text (a FatalError stays what it is). The final error's `attempts` and the
    response's `attempts` (a stream's StreamEnd) say how many calls this layer made.

    Args:
        inner: the handler to call.
        max_retries: retries after the first attempt (0 turns retrying off).
        base_delay: seconds; the backoff cap of the first retry, doubling for each next one.
        max_delay: seconds; the largest wait, and the longest `retry_after` honoured.
        budget: seconds from the start of the call after which no retry starts; None for
            no limit. It does not cut an attempt short: put a Timeout outside for that.
        on_retry: called (sync or async) with a RetryEvent before each backoff wait.
        retry_authentication: also retry an AuthenticationError (off by default), for
            credentials whose key can change between attempts without a refresh.
        jitter: returns a number in [0, 1] scaling each backoff; pin it in tests.
        clock: monotonic seconds, for the budget.
        sleep: waits the given seconds.
    """

    repr_options = ("max_retries",)

    def __init__(
        self,
        inner: LLMProvider,
        *,
        max_retries: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        budget: float | None = 120.0,
        on_retry: Callable[[RetryEvent], Awaitable[None] | None] | None = None,
        retry_authentication: bool = False,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(inner)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        self.base_delay = check_seconds("base_delay", base_delay)
        self.max_delay = check_seconds("max_delay", max_delay)
        if self.max_delay < self.base_delay:
            raise ValueError(f"max_delay ({max_delay}) must not be below base_delay ({base_delay})")
        self.budget = check_seconds("budget", budget, positive=True, allow_none=True)
        for option, value in (("jitter", jitter), ("clock", clock), ("sleep", sleep)):
            if not callable(value):
                raise TypeError(f"{option} must be callable, got {type(value).__name__}")
        if on_retry is not None and not callable(on_retry):
            raise TypeError(f"on_retry must be callable or None, got {type(on_retry).__name__}")
        if not isinstance(retry_authentication, bool):
            raise TypeError(
                f"retry_authentication must be a bool, got {type(retry_authentication).__name__}"
            )
        self.on_retry = on_retry
        self.retry_authentication = retry_authentication
        self.jitter = jitter
        self.clock = clock
        self.sleep = sleep

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Calls the inner handler until it answers or retrying must stop."""
        deadline = self._deadline()
        attempt = 1
        while True:
            try:
                response = await self.inner.complete(request)
            except LLMError as error:
                delay = self._retry_delay(error, attempt, deadline)
                if delay is None:
                    error.attempts = attempt
                    raise
                await self._announce(error, attempt, delay)
            else:
                if response.attempts == attempt:
                    return response
                return msgspec.structs.replace(response, attempts=attempt)
            await self.sleep(delay)
            attempt += 1

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams from the inner handler, starting again only while nothing was yielded."""
        deadline = self._deadline()
        attempt = 1
        while True:
            events = self.inner.stream(request)
            received: list[str] = []
            yielded = False
            try:
                async for event in events:
                    if isinstance(event, StreamEnd):
                        response = msgspec.structs.replace(event.response, attempts=attempt)
                        event = StreamEnd(response)
                    elif isinstance(event, TextDelta):
                        received.append(event.text)
                    yielded = True
                    yield event
                return
            except LLMError as error:
                if yielded:
                    error.attempts = attempt
                    if isinstance(error, FatalError | MidStreamError):
                        raise
                    raise _mid_stream(error, "".join(received), attempt) from error
                delay = self._retry_delay(error, attempt, deadline)
                if delay is None:
                    error.attempts = attempt
                    raise
                await self._announce(error, attempt, delay)
            finally:
                await events.aclose()
            await self.sleep(delay)
            attempt += 1

    def _deadline(self) -> float | None:
        """Returns the clock time after which no retry may start."""
        return None if self.budget is None else self.clock() + self.budget

    def _retry_delay(self, error: LLMError, attempt: int, deadline: float | None) -> float | None:
        """Returns the wait before retrying after `error`, or None when it must be re-raised."""
        if (
            not isinstance(error, RetryableError)
            or error.should_retry is False
            or attempt > self.max_retries
            or (isinstance(error, AuthenticationError) and not self.retry_authentication)
        ):
            return None
        hint = error.retry_after
        if hint is not None and hint > self.max_delay:
            logger.info(
                "not retrying %s: retry_after %.3gs exceeds max_delay %.3gs",
                type(error).__name__,
                hint,
                self.max_delay,
            )
            return None
        delay = max(hint or 0.0, self._backoff(attempt))
        if deadline is not None and delay > deadline - self.clock():
            logger.info(
                "not retrying %s: waiting %.3gs would overrun the %.3gs budget",
                type(error).__name__,
                delay,
                self.budget,
            )
            return None
        return delay

    def _backoff(self, retry: int) -> float:
        """Returns the full-jitter exponential wait before retry number `retry`."""
        factor = self.jitter()
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"jitter must return a number in [0, 1], got {factor!r}")
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 64))
        return factor * cap

    async def _announce(self, error: LLMError, attempt: int, delay: float) -> None:
        """Makes a retry visible: a log line, a span event and the `on_retry` hook."""
        logger.info(
            "retrying after %s (attempt %d of %d) in %.3fs: %s",
            type(error).__name__,
            attempt,
            self.max_retries + 1,
            delay,
            error,
        )
        trace.get_current_span().add_event(
            RETRY_EVENT,
            {RETRY_ATTEMPT: attempt, ERROR_TYPE: type(error).__name__, RETRY_DELAY_S: delay},
        )
        if self.on_retry is not None:
            result = self.on_retry(RetryEvent(attempt=attempt, error=error, delay=delay))
            if inspect.isawaitable(result):
                await result


def _mid_stream(error: LLMError, partial_text: str, attempts: int) -> MidStreamError:
    """Wraps a retryable failure after text reached the caller, keeping its context."""
    # LLMError's own fields: a subclass's extras (a JsonValidationError's output) do not fit.
    context = LLMError.context(error)
    message = context.pop("message")
    context["attempts"] = attempts
    return MidStreamError(
        f"stream failed after text reached the caller: {type(error).__name__}: {message}",
        partial_text=partial_text,
        **context,
    )
