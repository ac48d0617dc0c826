"""Tracing: one OpenTelemetry CLIENT span and GenAI metrics per call, per the conventions.

Uses only opentelemetry-api: with no SDK configured every call is a cheap no-op. The span is
current while the inner layers run, so their events (Retry's `ashford.retry`, RateLimit's
waits) land on it; every name comes from `_semconv`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from opentelemetry import _logs, context, metrics, trace
from opentelemetry.trace import SpanKind

from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware
from ashford_llm.middleware.tracing.call import AttributeValue, CallRecord, Instruments
from ashford_llm.middleware.tracing.content import (
    CaptureMode,
    content_attributes,
    input_content,
    resolve_capture_mode,
    tool_definitions,
)
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["Tracing"]


class Tracing(Middleware):
    """Traces each call as a `chat {model}` CLIENT span and records GenAI client metrics.

    Model, provider and server come from the stack's `info` (the terminal's description);
    the options below override it.

    Args:
        inner: the provider to wrap.
        tracer_provider: where spans go; None uses the global one (never set by this layer).
        meter_provider: where metrics go; None uses the global one.
        logger_provider: where the content event goes; None uses the global one.
        capture_content: True (span_only), False, or "span_only" | "event_only" |
            "span_and_event" | "no_content"; None reads
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (off when unset).
        model: the requested model, for `gen_ai.request.model` and the span name.
        provider_name: `gen_ai.provider.name`: "openai", "anthropic", "gcp.gemini", ...
        server_address: the vendor host, for `server.address`.
        server_port: the vendor port, for `server.port`.
        clock: seconds on a monotonic clock, for the metrics; injectable for tests.
    """

    repr_options = ()

    def __init__(
        self,
        inner: LLMProvider,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        logger_provider: _logs.LoggerProvider | None = None,
        capture_content: bool | str | None = None,
        model: str | None = None,
        provider_name: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(inner)
        for option, value in (
            ("model", model),
            ("provider_name", provider_name),
            ("server_address", server_address),
        ):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{option} must be a non-empty string or None, got {value!r}")
        if server_port is not None and (
            isinstance(server_port, bool)
            or not isinstance(server_port, int)
            or not 0 < server_port < 65536
        ):
            raise ValueError(f"server_port must be an int from 1 to 65535, got {server_port!r}")
        if not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        self.capture_mode = resolve_capture_mode(capture_content)
        info = inner.info
        self.model = model or info.model
        self.provider_name = provider_name or info.otel_provider_name or info.name
        self.server_address = server_address or info.server_address
        self.server_port = server_port or info.server_port
        self._tracer = trace.get_tracer(sc.SCOPE_NAME, tracer_provider=tracer_provider)
        logger = None
        if self.capture_mode.on_event:
            logger = (logger_provider or _logs.get_logger_provider()).get_logger(sc.SCOPE_NAME)
        self._instruments = Instruments.create(
            (meter_provider or metrics.get_meter_provider()).get_meter(sc.SCOPE_NAME),
            logger,
            self.capture_mode,
            clock,
        )
        self._config_temperature = info.temperature
        self._config_max_tokens = info.max_output_tokens
        # The attributes every call's span and metrics share, built once (never mutated).
        self._base: dict[str, AttributeValue] = {
            sc.OPERATION_NAME: sc.OPERATION_CHAT,
            sc.PROVIDER_NAME: self.provider_name,
        }
        if self.model:
            self._base[sc.REQUEST_MODEL] = self.model
        if self.server_address:
            self._base[sc.SERVER_ADDRESS] = self.server_address
            if self.server_port:
                self._base[sc.SERVER_PORT] = self.server_port
        self._span_name = f"{sc.OPERATION_CHAT} {self.model}" if self.model else sc.OPERATION_CHAT

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Runs the call inside its span, then records its outcome and metrics."""
        call = self._start(request, stream=False)
        # What trace.use_span(span, record_exception=False, set_status_on_exception=False)
        # does, without its generator-based context manager on every call.
        token = context.attach(trace.set_span_in_context(call.span))
        try:
            response = await self.inner.complete(request)
        except BaseException as error:
            context.detach(token)
            call.fail(error)
            raise
        context.detach(token)
        call.succeed(response)
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams inside one span covering the whole stream, timing the chunks."""
        call = self._start(request, stream=True)
        span_context = trace.set_span_in_context(call.span)
        events = self.inner.stream(request)
        finished = False
        try:
            while True:
                # Current only while the inner layers run, never while the caller holds a chunk.
                token = context.attach(span_context)
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
                finally:
                    context.detach(token)
                if isinstance(event, StreamEnd):
                    call.response = event.response
                else:
                    call.chunk(event)
                yield event
            finished = True
        except GeneratorExit:
            # Stopping once the StreamEnd arrived is success, not abandonment: keep its usage.
            if call.response is None:
                call.abandon()
            else:
                finished = True
            raise
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            await _close(events, span_context)
            if finished:
                call.finish_stream()

    def _start(self, request: CompletionRequest, *, stream: bool) -> CallRecord:
        """Starts the call's span (a child of the caller's current span) with request attributes."""
        attributes = self._base.copy()
        temperature = request.temperature
        if temperature is None:
            temperature = self._config_temperature
        if isinstance(temperature, int | float):
            attributes[sc.REQUEST_TEMPERATURE] = float(temperature)
        max_tokens = request.max_tokens or self._config_max_tokens
        if isinstance(max_tokens, int):
            attributes[sc.REQUEST_MAX_TOKENS] = max_tokens
        if request.stop:
            attributes[sc.REQUEST_STOP_SEQUENCES] = tuple(request.stop)
        if request.wants_json:
            attributes[sc.OUTPUT_TYPE] = sc.OUTPUT_TYPE_JSON
        if stream:
            attributes[sc.REQUEST_STREAM] = True
        name = self._span_name
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        content: dict[str, Any] = {}
        if self.capture_mode is not CaptureMode.NO_CONTENT:
            content = input_content(request.messages, self.provider_name)
            if request.tools:
                content[sc.TOOL_DEFINITIONS] = tool_definitions(request.tools)
            if self.capture_mode.on_span:
                span.set_attributes(content_attributes(content))
        return CallRecord(self._instruments, span, self._base, attributes, content)


async def _close(events: AsyncGenerator[StreamEvent, None], span_context: context.Context) -> None:
    """Closes the inner stream (if it can be closed) with the call's span current."""
    token = context.attach(span_context)
    try:
        await events.aclose()
    finally:
        context.detach(token)
