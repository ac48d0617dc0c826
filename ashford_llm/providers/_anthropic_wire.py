"""Reads the Anthropic Messages API's answers: Message bodies, stream events, error objects.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls
never break parsing. Usage is normalised: input counts cache writes and reads, output counts
thinking. Error classes come from the HTTP status, the error `type` (for errors inside a 200
stream) and, for spend and billing limits, the message.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec

from ashford_llm.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    error_for_status,
    redact,
)
from ashford_llm.providers._http import DECODE_FAILURES, decode_json, excerpt, require_text
from ashford_llm.types import CompletionResponse, FinishReason

__all__ = ["AnthropicStreamParser", "error_in_body", "parse_error", "parse_message"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}
# Error `type` -> class, for errors without an HTTP status (an `error` event in a 200 stream).
_TYPE_ERRORS: dict[str, type[LLMError]] = {
    "invalid_request_error": InvalidRequestError,
    "not_found_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "billing_error": QuotaExhaustedError,
    "rate_limit_error": RateLimitError,
    "api_error": ServerError,
    "overloaded_error": ServerError,
    "timeout_error": ServerError,
    "conflict_error": ServerError,
}
# Wording of the spend-limit 400 and the billing 429s: waiting a few seconds cannot help.
_QUOTA_WORDS = re.compile(
    r"usage limit|spend(?:ing)? (?:limit|cap)|credit balance|credits? (?:is|are) required"
    r"|extra usage|billing|purchase credits|quota",
    re.IGNORECASE,
)


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: dict[str, Any] | None = None


class _Block(msgspec.Struct):
    type: str = ""
    text: str | None = None


class _ErrorDetail(msgspec.Struct):
    type: str | None = None
    message: str | None = None
    details: Any = None


class _Message(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    model: str | None = None
    content: list[_Block] | None = None
    stop_reason: str | None = None
    usage: _Usage | None = None
    error: _ErrorDetail | None = None
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
    error: _ErrorDetail | None = None
    request_id: str | None = None


_MESSAGE_DECODER = msgspec.json.Decoder(_Message)
_EVENT_DECODER = msgspec.json.Decoder(_Event)


def _finish_reason(stop_reason: str | None) -> FinishReason:
    """Normalises Anthropic's stop_reason; pause_turn and unknown values are "other"."""
    return _FINISH_REASONS.get(stop_reason or "", "other")


def _error_class(
    status: int | None, error_type: str | None, message: str, *, waits: bool
) -> type[LLMError]:
    """Picks the error class from status, error type and (for billing limits) the message."""
    if status == 402 or error_type == "billing_error":
        return QuotaExhaustedError
    if status in (400, 429) and not waits and _QUOTA_WORDS.search(message):
        return QuotaExhaustedError
    if status is not None and status >= 300:
        return error_for_status(status)
    return _TYPE_ERRORS.get(error_type or "", ServerError)


def _error_from_detail(
    detail: _ErrorDetail, status: int | None, *, waits: bool, request_id: str | None
) -> LLMError:
    """Builds the typed error for an Anthropic error object, keeping its message and type."""
    message = redact(detail.message or f"Anthropic error {detail.type or 'without a type'}")
    code = detail.details.get("error_code") if isinstance(detail.details, dict) else None
    cls = _error_class(status, detail.type, message, waits=waits)
    return cls(
        message,
        status=status,
        error_type=detail.type,
        error_code=code if isinstance(code, str) else None,
        request_id=request_id,
    )


class AnthropicStreamParser:
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

    def feed(self, event: str, data: str) -> str | None:
        """Consumes one event; returns its text, or raises for an `error` event."""
        if event == "ping":
            return None
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
                return delta.text
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
            detail = parsed.error or _ErrorDetail()
            raise _error_from_detail(detail, None, waits=True, request_id=parsed.request_id)
        return None

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
    cache_read = usage.cache_read_input_tokens
    details = usage.output_tokens_details
    thinking = details.get("thinking_tokens") if details else None
    return CompletionResponse(
        content=content,
        model=model,
        input_tokens=(usage.input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
        + (cache_read or 0),
        output_tokens=usage.output_tokens or 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=cache_read,
        reasoning_tokens=thinking if isinstance(thinking, int) else None,
    )


def parse_message(
    body: bytes, *, provider: str, default_model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a Message: text blocks joined, thinking and tool blocks skipped."""
    message = decode_json(_MESSAGE_DECODER, body, provider=provider, what="a Message")
    if message.type == "error" and message.error is not None:
        error = _error_from_detail(
            message.error, None, waits=True, request_id=message.request_id or request_id
        )
        error.provider = provider
        raise error
    content = "".join(
        block.text for block in message.content or () if block.type == "text" and block.text
    )
    finish = _finish_reason(message.stop_reason)
    require_text(content, finish, provider=provider, request_id=request_id)
    return _build_response(
        content,
        finish,
        message.usage or _Usage(),
        model=message.model or default_model,
        provider=provider,
        response_id=message.id,
        latency_ms=latency_ms,
        request_id=request_id,
    )


def parse_error(status: int, headers: httpx.Headers, body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping Anthropic's message, type and code."""
    try:
        envelope = _MESSAGE_DECODER.decode(body)
    except DECODE_FAILURES:
        envelope = None
    if envelope is None or envelope.error is None:
        return error_for_status(status)(
            f"Anthropic answered HTTP {status} without its error JSON: {excerpt(body)!r}",
            status=status,
        )
    waits = "retry-after" in headers or "retry-after-ms" in headers
    return _error_from_detail(envelope.error, status, waits=waits, request_id=envelope.request_id)


def error_in_body(body: bytes) -> LLMError | None:
    """Finds an Anthropic error object in a 200 body that should have been a stream."""
    try:
        envelope = _MESSAGE_DECODER.decode(body)
    except DECODE_FAILURES:
        return None
    if envelope.type != "error" or envelope.error is None:
        return None
    return _error_from_detail(envelope.error, None, waits=True, request_id=envelope.request_id)
