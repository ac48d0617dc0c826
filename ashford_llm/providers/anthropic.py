"""AnthropicProvider: the Anthropic Messages API (`POST /v1/messages`) over httpx and msgspec.

System messages go to the top-level `system` field, joined by blank lines; consecutive messages
of one role are sent as one turn of text blocks, as the API documents it merges them anyway.

JSON output: a `json_schema` uses native structured outputs (`output_config.format`); objects in
the schema that leave `additionalProperties` unset get `false`, which Anthropic requires. Models
older than structured outputs (Claude 3.x, Sonnet 4.0, Opus 4.0) get the schema as a system
instruction instead. Plain `json_mode` is always a system instruction: Anthropic has no
schema-free JSON mode (an open object schema is rejected), and assistant prefill is rejected by
Claude 4.6 and later, so this provider never prefills.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
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
from ashford_llm.providers._http import (
    Credentials,
    HTTPProvider,
    decode_json,
    excerpt,
    require_text,
)
from ashford_llm.types import CompletionRequest, CompletionResponse, FinishReason

__all__ = ["AnthropicProvider"]

LEGACY_VERSION = "2023-06-01"
SAMPLING_FREE_VERSION = "2026-10-21"

_ENCODER = msgspec.json.Encoder()
_JSON_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it "
    "and no Markdown code fences."
)
# Model families released before structured outputs; they get the schema as an instruction.
_NO_STRUCTURED_OUTPUTS = (
    "claude-2",
    "claude-instant",
    "claude-3",
    "claude-sonnet-4-0",
    "claude-sonnet-4-2",
    "claude-opus-4-0",
    "claude-opus-4-2",
)
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


_MESSAGE_DECODER = msgspec.json.Decoder(_Message)
_EVENT_DECODER = msgspec.json.Decoder(_Event)


def _finish_reason(stop_reason: str | None) -> FinishReason:
    """Normalises Anthropic's stop_reason; pause_turn and unknown values are "other"."""
    return _FINISH_REASONS.get(stop_reason or "", "other")


def _closed_schema(schema: Any) -> Any:
    """Returns a copy of a JSON Schema whose objects set `additionalProperties` (false if unset)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: _closed_schema(sub) for name, sub in out[key].items()}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [_closed_schema(sub) for sub in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = _closed_schema(out["items"])
    kind = out.get("type")
    if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and (
        "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out


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
    if status == 401:
        message += " (rejected again after refreshing the credential once)"
    return cls(
        message,
        status=status,
        error_type=detail.type,
        error_code=code if isinstance(code, str) else None,
        request_id=request_id,
    )


class _StreamParser:
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
        parsed = decode_json(_EVENT_DECODER, data, provider=self.provider, what="a stream event")
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
            raise _error_from_detail(
                parsed.error or _ErrorDetail(), None, waits=True, request_id=None
            )
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


class AnthropicProvider(HTTPProvider):
    """Calls Claude through the Anthropic Messages API, whole or streamed.

    Args:
        config: the model and its default options; `temperature` must be at most 1.
        api_key: the key; otherwise ANTHROPIC_API_KEY is read.
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the API base without `/v1`; otherwise ANTHROPIC_BASE_URL or the public API.
        http_client: a shared `httpx.AsyncClient`, which the provider then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        auth_header: "x-api-key" (the long-documented form) or "bearer" (`Authorization`).
        api_version: the `anthropic-version` header. Under "2026-10-21" the API rejects
            temperature, so the provider never sends one with that version.
        structured_outputs: use native structured outputs for `json_schema`; None decides by
            the model name (off for models released before the feature).
    """

    provider_name: ClassVar[str] = "anthropic"
    env_keys: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    env_base_url: ClassVar[str | None] = "ANTHROPIC_BASE_URL"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    request_id_header: ClassVar[str | None] = "request-id"

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        auth_header: Literal["x-api-key", "bearer"] = "x-api-key",
        api_version: str = LEGACY_VERSION,
        structured_outputs: bool | None = None,
    ) -> None:
        if auth_header not in ("x-api-key", "bearer"):
            raise ValueError(f"auth_header must be 'x-api-key' or 'bearer', got {auth_header!r}")
        if not isinstance(api_version, str) or not api_version.strip():
            raise ValueError(f"api_version must be a non-empty string, got {api_version!r}")
        if structured_outputs is not None and not isinstance(structured_outputs, bool):
            raise TypeError("structured_outputs must be True, False or None")
        temperature = config.temperature if isinstance(config, ModelConfig) else None
        if api_version != SAMPLING_FREE_VERSION and temperature is not None and temperature > 1:
            raise ValueError(f"Anthropic accepts temperature 0 to 1, got {temperature}")
        super().__init__(
            config,
            api_key=api_key,
            credentials=credentials,
            base_url=base_url,
            http_client=http_client,
            timeout=timeout,
        )
        self.auth_header = auth_header
        self.api_version = api_version
        self.structured_outputs = (
            not config.model.startswith(_NO_STRUCTURED_OUTPUTS)
            if structured_outputs is None
            else structured_outputs
        )
        self._messages_url = f"{self.base_url}/v1/messages"
        self._sends_temperature = api_version != SAMPLING_FREE_VERSION

    def _url(self, stream: bool) -> str:
        """Returns the Messages URL (streaming is switched on in the body)."""
        return self._messages_url

    def _headers(self, key: str) -> dict[str, str]:
        """Returns the JSON, version and auth headers."""
        headers = {"content-type": "application/json", "anthropic-version": self.api_version}
        if self.auth_header == "bearer":
            headers["authorization"] = f"Bearer {key}"
        else:
            headers["x-api-key"] = key
        return headers

    def _body(self, request: CompletionRequest, stream: bool) -> bytes:
        """Encodes the Messages request: system on top, turns, limits, JSON output, stream."""
        system: list[str] = []
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                system.append(message.content)
            elif turns and turns[-1]["role"] == message.role:
                last = turns[-1]
                if isinstance(last["content"], str):
                    last["content"] = [{"type": "text", "text": last["content"]}]
                last["content"].append({"type": "text", "text": message.content})
            else:
                turns.append({"role": message.role, "content": message.content})
        if not turns:
            raise InvalidRequestError(
                "Anthropic needs at least one user or assistant message besides system ones",
                provider=self.provider_name,
            )
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": request.max_tokens or self.config.max_output_tokens,
            "messages": turns,
        }
        temperature = (
            request.temperature if request.temperature is not None else self.config.temperature
        )
        if temperature is not None and self._sends_temperature:
            if temperature > 1:
                raise InvalidRequestError(
                    f"Anthropic accepts temperature 0 to 1, got {temperature}",
                    provider=self.provider_name,
                )
            body["temperature"] = temperature
        if request.json_schema is not None and self.structured_outputs:
            schema = _closed_schema(request.json_schema)
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif request.json_schema is not None:
            schema_text = _ENCODER.encode(request.json_schema).decode()
            system.append(f"{_JSON_INSTRUCTION} It must follow this JSON Schema: {schema_text}")
        elif request.json_mode:
            system.append(_JSON_INSTRUCTION)
        if system:
            body["system"] = "\n\n".join(system)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        return _ENCODER.encode(body)

    def _parse_response(
        self, body: bytes, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a Message: text blocks joined, thinking and tool blocks skipped."""
        message = decode_json(_MESSAGE_DECODER, body, provider=self.provider_name, what="a Message")
        if message.type == "error" and message.error is not None:
            error = _error_from_detail(
                message.error, None, waits=True, request_id=message.request_id or request_id
            )
            error.provider = self.provider_name
            raise error
        content = "".join(
            block.text for block in message.content or () if block.type == "text" and block.text
        )
        finish = _finish_reason(message.stop_reason)
        require_text(content, finish, provider=self.provider_name, request_id=request_id)
        return _build_response(
            content,
            finish,
            message.usage or _Usage(),
            model=message.model or self.config.model,
            provider=self.provider_name,
            response_id=message.id,
            latency_ms=latency_ms,
            request_id=request_id,
        )

    def _stream_parser(self) -> _StreamParser:
        """Returns a parser for one stream."""
        return _StreamParser(self.config.model, self.provider_name)

    def _error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping Anthropic's message, type and code."""
        try:
            envelope = _MESSAGE_DECODER.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = None
        if envelope is None or envelope.error is None:
            return error_for_status(status)(
                f"Anthropic answered HTTP {status} without its error JSON: {excerpt(body)!r}",
                status=status,
            )
        waits = "retry-after" in headers or "retry-after-ms" in headers
        return _error_from_detail(
            envelope.error, status, waits=waits, request_id=envelope.request_id
        )

    def _error_in_body(self, body: bytes) -> LLMError | None:
        """Finds an Anthropic error object in a 200 body that should have been a stream."""
        try:
            envelope = _MESSAGE_DECODER.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if envelope.type != "error" or envelope.error is None:
            return None
        return _error_from_detail(envelope.error, None, waits=True, request_id=envelope.request_id)
