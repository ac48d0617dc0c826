"""Fallback: tries the next provider when one fails in a way another provider may not.

Where it belongs: outside Retry (each provider's own retries run first, so a blip is retried
on the same model and only a real failure moves on) and inside Tracing (one span covers the
whole call, with an `ashford.fallback` event per switch). A CircuitBreaker inside each
provider's stack makes an outage cost one fast `CircuitOpenError`, so Fallback moves on at
once instead of waiting out the retries. `ClientBuilder.fallback(...)` builds the layers named
after it over every provider, so each gets the same stack.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

import msgspec
from opentelemetry import trace

from ashford_llm.errors import (
    CircuitOpenError,
    ContentFilterError,
    FatalError,
    InvalidRequestError,
    LLMError,
    MidStreamError,
    PermissionDeniedError,
    QuotaExhaustedError,
)
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware
from ashford_llm.middleware.retry import _mid_stream
from ashford_llm.protocol import LLMProvider, ProviderInfo
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = ["DEFAULT_FALLBACK_ON", "Fallback", "FallbackEvent"]

logger = logging.getLogger("ashford_llm")

DEFAULT_FALLBACK_ON: tuple[type[LLMError], ...] = (
    QuotaExhaustedError,
    ContentFilterError,
    PermissionDeniedError,
    CircuitOpenError,
)
"""The error classes that move on to the next provider besides every RetryableError."""


class FallbackEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One switch about to happen, as `on_fallback` sees it.

    `skipped` describes the provider that failed with `error` (after its own retries),
    `next` the one tried now; `index` is the position of `next` (1 for the first fallback).
    """

    skipped: ProviderInfo
    error: LLMError
    next: ProviderInfo
    index: int


class Fallback(Middleware):
    """Calls `inner`, then each of `fallbacks` in order, until one answers.

    A provider's failure moves on to the next when it is a RetryableError (the provider's
    own Retry, below this layer, has given up) or an instance of a class in `on`; any other
    error (an InvalidRequestError, a cancellation) ends the call at once. A stream moves on
    only before its first event; a failure after it ends the stream (a retryable one as
    MidStreamError), so the caller never gets two models' text mixed. The answer's `provider`
    and `model` are the answering provider's, its `attempts` the calls made through every
    provider; the current span gets `ashford.fallback.*` attributes and one
    `ashford.fallback` event per switch. When every provider failed, the last error is
    raised with the earlier ones in its `fallback_errors`, oldest first.

    Every provider must be able to take every request. Nothing about a request is known
    when the stack is built; before its first call, a request whose `vendor_options` would
    reach a provider of another vendor is refused with InvalidRequestError. A provider that
    cannot take an option raises its own InvalidRequestError (fatal: the call ends there);
    a ReasoningPart or signature of another vendor is dropped by the provider receiving it.

    Args:
        inner: the first provider to try (it answers for `info`).
        *fallbacks: the providers (or built stacks) to try next, in order.
        on: fatal error classes that also move on to the next provider.
        on_fallback: called (sync or async) with a FallbackEvent before each switch.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *fallbacks: LLMProvider,
        on: Sequence[type[LLMError]] = DEFAULT_FALLBACK_ON,
        on_fallback: Callable[[FallbackEvent], Awaitable[None] | None] | None = None,
    ) -> None:
        super().__init__(inner)
        if not fallbacks:
            raise ValueError("Fallback needs at least one provider to fall back to")
        for index, provider in enumerate(fallbacks, 1):
            if not isinstance(provider, LLMProvider):
                raise TypeError(
                    f"Fallback's provider {index} must be an LLMProvider, "
                    f"got {type(provider).__name__}"
                )
        providers = (inner, *fallbacks)
        if len({id(provider) for provider in providers}) != len(providers):
            raise ValueError("Fallback got the same provider object twice")
        if isinstance(on, type) or not all(
            isinstance(cls, type) and issubclass(cls, LLMError) for cls in on
        ):
            raise TypeError(f"on must be a sequence of LLMError classes, got {on!r}")
        if on_fallback is not None and not callable(on_fallback):
            raise TypeError(
                f"on_fallback must be callable or None, got {type(on_fallback).__name__}"
            )
        self.fallbacks = fallbacks
        self.on = tuple(on)
        self.on_fallback = on_fallback
        self.providers = providers
        self._infos = tuple(provider.info for provider in providers)
        self._vendors = {info.otel_provider_name or info.name for info in self._infos}

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the first answer, trying each provider in order."""
        self._check(request)
        errors: list[LLMError] = []
        spent = 0
        for index, provider in enumerate(self.providers):
            try:
                response = await provider.complete(request)
            except LLMError as error:
                spent += error.attempts or 1
                await self._failed(error, index, errors, spent)
                continue
            self._answered(index)
            return _add_attempts(response, spent)
        raise AssertionError("unreachable: the last provider's failure is raised")

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams from the first provider that starts; moves on only before the first event."""
        self._check(request)
        errors: list[LLMError] = []
        spent = 0
        for index, provider in enumerate(self.providers):
            events = provider.stream(request)
            received: list[str] = []
            yielded = False
            try:
                async for event in events:
                    if isinstance(event, StreamEnd):
                        event = StreamEnd(_add_attempts(event.response, spent))
                    elif isinstance(event, TextDelta):
                        received.append(event.text)
                    if not yielded:
                        yielded = True
                        self._answered(index)
                    yield event
                return
            except LLMError as error:
                spent += error.attempts or 1
                if yielded:
                    error.attempts = spent
                    if isinstance(error, FatalError | MidStreamError):
                        error.fallback_errors = (*errors, *error.fallback_errors)
                        raise
                    broken = _mid_stream(error, "".join(received), spent)
                    broken.fallback_errors = tuple(errors)
                    raise broken from error
                await self._failed(error, index, errors, spent)
            finally:
                await events.aclose()

    async def aclose(self) -> None:
        """Closes every provider, the first's error (if any) raised after all were closed."""
        failure: BaseException | None = None
        for provider in self.providers:
            try:
                await provider.aclose()
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def describe(self) -> str:
        """Returns this layer alone, each fallback as its own stack."""
        return f"Fallback({', '.join(repr(provider) for provider in self.fallbacks)})"

    def _check(self, request: CompletionRequest) -> None:
        """Refuses, before any call, a request some provider cannot be sent as it is."""
        if request.vendor_options and len(self._vendors) > 1:
            raise InvalidRequestError(
                "vendor_options would reach providers of different vendors "
                f"({', '.join(sorted(self._vendors))}) through Fallback; "
                "use fallbacks of one vendor or leave vendor_options out",
                provider=self.name,
                error_type="fallback_vendor_options",
            )

    def _falls_back(self, error: LLMError) -> bool:
        """Says whether `error` moves the call on to the next provider."""
        return error.retryable or isinstance(error, self.on)

    async def _failed(
        self, error: LLMError, index: int, errors: list[LLMError], spent: int
    ) -> None:
        """Announces the switch after `error`, or raises it (the others attached) if it ends."""
        if not self._falls_back(error) or index + 1 == len(self.providers):
            error.fallback_errors = (*errors, *error.fallback_errors)
            error.attempts = spent
            raise error
        errors.append(error)
        skipped, following = self._infos[index], self._infos[index + 1]
        logger.info(
            "falling back from %s to %s after %s: %s",
            _label(skipped),
            _label(following),
            type(error).__name__,
            error,
        )
        trace.get_current_span().add_event(
            sc.FALLBACK_EVENT,
            {
                sc.FALLBACK_SKIPPED_PROVIDER: skipped.name,
                sc.FALLBACK_SKIPPED_MODEL: skipped.model or "",
                sc.ERROR_TYPE: type(error).__name__,
                sc.FALLBACK_NEXT_PROVIDER: following.name,
                sc.FALLBACK_NEXT_MODEL: following.model or "",
                sc.FALLBACK_INDEX: index + 1,
            },
        )
        if self.on_fallback is not None:
            event = FallbackEvent(skipped=skipped, error=error, next=following, index=index + 1)
            result = self.on_fallback(event)
            if inspect.isawaitable(result):
                await result

    def _answered(self, index: int) -> None:
        """Puts which provider answered on the current span."""
        info = self._infos[index]
        span = trace.get_current_span()
        span.set_attribute(sc.FALLBACK_INDEX, index)
        span.set_attribute(sc.FALLBACK_PROVIDER, info.name)
        if info.model:
            span.set_attribute(sc.FALLBACK_MODEL, info.model)


def _add_attempts(response: CompletionResponse, spent: int) -> CompletionResponse:
    """Adds the attempts spent on skipped providers to the answer's own."""
    if not spent:
        return response
    return msgspec.structs.replace(response, attempts=response.attempts + spent)


def _label(info: ProviderInfo) -> str:
    """Names a provider for a log line: `name/model`."""
    return f"{info.name}/{info.model}" if info.model else info.name
