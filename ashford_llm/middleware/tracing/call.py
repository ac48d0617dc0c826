"""What Tracing records for one call: span attributes at the end, metrics, the details event."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from opentelemetry import _logs, metrics, trace
from opentelemetry.trace import Status, StatusCode

from ashford_llm.errors import LLMError, redact
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware.tracing.content import CaptureMode, content_attributes, output_content
from ashford_llm.types import (
    CompletionResponse,
    Part,
    ReasoningDelta,
    ReasoningPart,
    TextDelta,
    TextPart,
    ToolCallDelta,
)

__all__ = ["AttributeValue", "CallRecord", "Instruments", "error_type"]

AttributeValue: TypeAlias = str | bool | int | float | tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Instruments:
    """The histograms, event logger, capture mode and clock one Tracing layer records with."""

    duration: metrics.Histogram
    tokens: metrics.Histogram
    first_chunk: metrics.Histogram
    per_chunk: metrics.Histogram
    logger: _logs.Logger | None
    capture_mode: CaptureMode
    clock: Callable[[], float]

    @classmethod
    def create(
        cls,
        meter: metrics.Meter,
        logger: _logs.Logger | None,
        capture_mode: CaptureMode,
        clock: Callable[[], float],
    ) -> Instruments:
        """Creates the conventions' client histograms, with their bucket advice."""

        def histogram(name: str, unit: str, description: str, buckets: Any) -> metrics.Histogram:
            return meter.create_histogram(
                name, unit, description, explicit_bucket_boundaries_advisory=buckets
            )

        seconds = sc.OPERATION_DURATION_UNIT
        return cls(
            duration=histogram(
                sc.OPERATION_DURATION,
                seconds,
                sc.OPERATION_DURATION_DESCRIPTION,
                sc.DURATION_BUCKETS,
            ),
            tokens=histogram(
                sc.TOKEN_USAGE, sc.TOKEN_USAGE_UNIT, sc.TOKEN_USAGE_DESCRIPTION, sc.TOKEN_BUCKETS
            ),
            first_chunk=histogram(
                sc.TIME_TO_FIRST_CHUNK,
                seconds,
                sc.TIME_TO_FIRST_CHUNK_DESCRIPTION,
                sc.DURATION_BUCKETS,
            ),
            per_chunk=histogram(
                sc.TIME_PER_OUTPUT_CHUNK,
                seconds,
                sc.TIME_PER_OUTPUT_CHUNK_DESCRIPTION,
                sc.DURATION_BUCKETS,
            ),
            logger=logger,
            capture_mode=capture_mode,
            clock=clock,
        )


class CallRecord:
    """One traced call: its span, timings and content; ends the span exactly once."""

    def __init__(
        self,
        instruments: Instruments,
        span: trace.Span,
        metric_attributes: dict[str, AttributeValue],
        span_attributes: dict[str, AttributeValue],
        content: dict[str, Any],
    ) -> None:
        self.instruments = instruments
        self.span = span
        # Shared with the layer and its other calls: replaced, never changed in place.
        self.metric_attributes = metric_attributes
        self.span_attributes = span_attributes
        self.content = content
        self.started = instruments.clock()
        self.last_chunk: float | None = None
        self.first_chunk_s: float | None = None
        self.chunk_gaps: list[float] = []
        self.streamed: list[TextDelta | ReasoningDelta] = []
        self.response: CompletionResponse | None = None

    def chunk(self, delta: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        """Notes a streamed chunk's arrival time (and its text, when capturing content).

        Reasoning and tool-call chunks count like text chunks for time to first chunk and
        time per chunk: the conventions time the response stream's chunks, and a reasoning
        model's first sign of life is its thinking. A tool call's pieces are captured from
        the final response, not from its deltas.
        """
        now = self.instruments.clock()
        if self.last_chunk is None:
            self.first_chunk_s = now - self.started
            self._set(sc.RESPONSE_TIME_TO_FIRST_CHUNK, self.first_chunk_s)
        else:
            self.chunk_gaps.append(now - self.last_chunk)
        self.last_chunk = now
        if self.content and not isinstance(delta, ToolCallDelta):
            self.streamed.append(delta)

    def succeed(self, response: CompletionResponse) -> None:
        """Records the response attributes and token usage, then ends the span."""
        attributes: dict[str, AttributeValue] = {sc.RESPONSE_MODEL: response.model}
        metric_attributes = {**self.metric_attributes, sc.RESPONSE_MODEL: response.model}
        self.metric_attributes = metric_attributes
        if response.response_id:
            attributes[sc.RESPONSE_ID] = response.response_id
        attributes[sc.RESPONSE_FINISH_REASONS] = (response.finish_reason,)
        attributes[sc.USAGE_INPUT_TOKENS] = response.input_tokens
        attributes[sc.USAGE_OUTPUT_TOKENS] = response.output_tokens
        if response.cached_input_tokens is not None:
            attributes[sc.USAGE_CACHE_READ_INPUT_TOKENS] = response.cached_input_tokens
        if response.cache_write_tokens is not None:
            attributes[sc.USAGE_CACHE_WRITE_INPUT_TOKENS] = response.cache_write_tokens
        if response.reasoning_tokens is not None:
            attributes[sc.USAGE_REASONING_OUTPUT_TOKENS] = response.reasoning_tokens
        attributes[sc.ATTEMPTS] = response.attempts
        # One call: the SDK takes its span lock and checks values once per call, not per key.
        self.span_attributes.update(attributes)
        self.span.set_attributes(attributes)
        if self.content:
            self.content.update(output_content(response.parts, response.finish_reason))
        tokens = self.instruments.tokens
        tokens.record(
            response.input_tokens,
            attributes={**metric_attributes, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT},
        )
        tokens.record(
            response.output_tokens,
            attributes={**metric_attributes, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT},
        )
        self._end()

    def fail(self, error: BaseException) -> None:
        """Records the error type, status and (redacted) exception, then ends the span."""
        cancelled = isinstance(error, asyncio.CancelledError)
        kind = sc.ERROR_TYPE_CANCELLED if cancelled else error_type(error)
        self._set(sc.ERROR_TYPE, kind)
        self.metric_attributes = {**self.metric_attributes, sc.ERROR_TYPE: kind}
        attempts = error.attempts if isinstance(error, LLMError) else None
        if attempts is not None:
            self._set(sc.ATTEMPTS, attempts)
        message = redact(str(error)) or kind
        self.span.set_status(Status(StatusCode.ERROR, message))
        if not cancelled:
            # Foreign exceptions are not redacted by us at construction: redact them here.
            self.span.record_exception(
                error,
                attributes={
                    "exception.message": message,
                    "exception.stacktrace": redact("".join(traceback.format_exception(error))),
                },
            )
        self._end()

    def abandon(self) -> None:
        """Ends the span of a stream the caller stopped reading: not an error, so no status."""
        self._set(sc.STREAM_ABANDONED, True)
        self._end()

    def finish_stream(self) -> None:
        """Ends the span of a stream that ran out, with its StreamEnd's response if one came."""
        if self.response is None:
            self._end()
        else:
            self.succeed(self.response)

    def _set(self, key: str, value: AttributeValue) -> None:
        """Sets a span attribute and remembers it for the details event."""
        self.span_attributes[key] = value
        self.span.set_attribute(key, value)

    def _end(self) -> None:
        """Records the duration and chunk metrics, emits the details event, ends the span."""
        instruments = self.instruments
        instruments.duration.record(
            instruments.clock() - self.started, attributes=self.metric_attributes
        )
        if self.first_chunk_s is not None or self.chunk_gaps:
            chunk_attributes = {
                k: v for k, v in self.metric_attributes.items() if k != sc.ERROR_TYPE
            }
            if self.first_chunk_s is not None:
                instruments.first_chunk.record(self.first_chunk_s, attributes=chunk_attributes)
            for gap in self.chunk_gaps:
                instruments.per_chunk.record(gap, attributes=chunk_attributes)
        if self.content and self.streamed and sc.OUTPUT_MESSAGES not in self.content:
            self.content.update(output_content(_streamed_parts(self.streamed), None))
        if instruments.capture_mode.on_span and sc.OUTPUT_MESSAGES in self.content:
            self.span.set_attributes(
                content_attributes({sc.OUTPUT_MESSAGES: self.content[sc.OUTPUT_MESSAGES]})
            )
        if instruments.logger is not None:
            instruments.logger.emit(
                event_name=sc.INFERENCE_DETAILS_EVENT,
                context=trace.set_span_in_context(self.span),
                attributes={**self.span_attributes, **self.content},
            )
        self.span.end()


def _streamed_parts(deltas: list[TextDelta | ReasoningDelta]) -> list[Part]:
    """Joins streamed deltas into parts: each run of reasoning or of text becomes one part."""
    parts: list[Part] = []
    run: list[str] = []
    for index, delta in enumerate(deltas):
        run.append(delta.text)
        following = deltas[index + 1] if index + 1 < len(deltas) else None
        if following is None or type(following) is not type(delta):
            text = "".join(run)
            parts.append(ReasoningPart(text) if type(delta) is ReasoningDelta else TextPart(text))
            run = []
    return parts


def error_type(error: BaseException) -> str:
    """Returns a low-cardinality error type: our class names bare, foreign ones qualified."""
    cls = type(error)
    if isinstance(error, LLMError) or cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
