"""Reads the Anthropic Messages API's answers: Message bodies and stream events.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls
never break parsing. Usage is normalised: input counts cache writes and reads, output counts
thinking. Error objects are read in `errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ashford_llm.providers._http import DECODE_FAILURES, decode_json, require_text
from ashford_llm.providers.anthropic.errors import ErrorDetail, error_from_detail
from ashford_llm.providers.dialect import NO_DELTAS, Delta
from ashford_llm.types import CompletionResponse, FinishReason, TextDelta

__all__ = ["AnthropicStreamDecoder", "parse_message"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: dict[str, Any] | None = None


class _Block(msgspec.Struct):
    type: str = ""
    text: str | None = None


class _Message(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    model: str | None = None
    content: list[_Block] | None = None
    stop_reason: str | None = None
    usage: _Usage | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None


class _Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    stop_reason: str | None = None


class _Event(msgspec.Struct):
    type: str = ""
    message: _Message | None = None
    delta: _Delta | None = None
    usage: _Usage | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None


_MESSAGE_DECODER = msgspec.json.Decoder(_Message)
_EVENT_DECODER = msgspec.json.Decoder(_Event)


def _finish_reason(stop_reason: str | None) -> FinishReason:
    """Normalises Anthropic's stop_reason; pause_turn and unknown values are "other"."""
    return _FINISH_REASONS.get(stop_reason or "", "other")


class AnthropicStreamDecoder:
    """Reads Anthropic's named stream events: text deltas, usage, stop reason, errors."""

    __slots__ = ("_parts", "_started", "_usage", "done", "model", "provider", "response_id", "stop")

    def __init__(self, model: str, provider: str) -> None:
        self.model = model
        self.provider = provider
        self.response_id: str | None = None
        self.stop: str | None = None
        self.done = False
        self._started = False
        self._parts: list[str] = []
        self._usage = _Usage()

    @property
    def complete(self) -> bool:
        """True once both message_start and message_stop arrived."""
        return self._started and self.done

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens so far, normalised as in the final response."""
        usage = self._usage
        inputs = (
            usage.input_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
        )
        known = [count for count in inputs if count is not None]
        return (sum(known) if known else None), usage.output_tokens

    def _merge_usage(self, usage: _Usage | None) -> None:
        """Overwrites usage with the fields an event carries (Anthropic's counts are totals)."""
        if usage is None:
            return
        for field in _Usage.__struct_fields__:
            value = getattr(usage, field)
            if value is not None:
                setattr(self._usage, field, value)

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one event; returns its text delta, or raises for an `error` event."""
        if event == "ping":
            return NO_DELTAS
        try:
            parsed = _EVENT_DECODER.decode(data)
        except DECODE_FAILURES:
            # Off the per-chunk path: decode again for the shared typed error.
            parsed = decode_json(
                _EVENT_DECODER, data, provider=self.provider, what="a stream event"
            )
        kind = parsed.type or event
        if kind == "content_block_delta":
            delta = parsed.delta
            if delta is not None and delta.type == "text_delta" and delta.text:
                self._parts.append(delta.text)
                return (TextDelta(delta.text),)
        elif kind == "message_start" and parsed.message is not None:
            self._started = True
            self.response_id = parsed.message.id
            self.model = parsed.message.model or self.model
            self._merge_usage(parsed.message.usage)
        elif kind == "message_delta":
            if parsed.delta is not None and parsed.delta.stop_reason is not None:
                self.stop = parsed.delta.stop_reason
            self._merge_usage(parsed.usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            detail = parsed.error or ErrorDetail()
            raise error_from_detail(detail, None, waits=True, request_id=parsed.request_id)
        return NO_DELTAS

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from the streamed text and the merged usage."""
        content = "".join(self._parts)
        finish = _finish_reason(self.stop)
        require_text(content, finish, provider=self.provider, request_id=request_id)
        return _build_response(
            content,
            finish,
            self._usage,
            model=self.model,
            provider=self.provider,
            response_id=self.response_id,
            latency_ms=latency_ms,
            request_id=request_id,
        )


def _build_response(
    content: str,
    finish: FinishReason,
    usage: _Usage,
    *,
    model: str,
    provider: str,
    response_id: str | None,
    latency_ms: float,
    request_id: str | None,
) -> CompletionResponse:
    """Normalises usage: input includes cache writes and reads; output includes thinking."""
    details = usage.output_tokens_details
    thinking = details.get("thinking_tokens") if details else None
    return CompletionResponse(
        content=content,
        model=model,
        input_tokens=(usage.input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0),
        output_tokens=usage.output_tokens or 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        reasoning_tokens=thinking if isinstance(thinking, int) else None,
    )


def parse_message(
    body: bytes, *, provider: str, model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a Message: text blocks joined, thinking and tool blocks skipped."""
    message = decode_json(_MESSAGE_DECODER, body, provider=provider, what="a Message")
    if message.type == "error" and message.error is not None:
        raise error_from_detail(
            message.error, None, waits=True, request_id=message.request_id or request_id
        )
    content = "".join(
        block.text for block in message.content or () if block.type == "text" and block.text
    )
    finish = _finish_reason(message.stop_reason)
    require_text(content, finish, provider=provider, request_id=request_id)
    return _build_response(
        content,
        finish,
        message.usage or _Usage(),
        model=message.model or model,
        provider=provider,
        response_id=message.id,
        latency_ms=latency_ms,
        request_id=request_id,
    )
