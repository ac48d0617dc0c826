"""OpenAI Chat Completions over httpx + msgspec, also for OpenAI-compatible servers.

`base_url` (or OPENAI_BASE_URL, including `/v1`) points the provider at any server speaking
the same API: vLLM, Ollama, llama.cpp server, gateways. Such servers may send no usage at
all; the response then reports 0 input and output tokens, and only then.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    AuthenticationError,
    ContentFilterError,
    InvalidRequestError,
    LLMError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    error_for_status,
    redact,
)
from ashford_llm.providers._http import (
    Credentials,
    HTTPProvider,
    StreamParser,
    decode_json,
    excerpt,
    require_text,
)
from ashford_llm.types import CompletionRequest, CompletionResponse, FinishReason

__all__ = ["OpenAIProvider"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
_QUOTA_CODES = frozenset(("insufficient_quota", "credit_balance_exhausted"))
# Error type/code -> class, for error objects that carry no HTTP status (stream chunks).
_KIND_ERRORS: dict[str, type[LLMError]] = {
    "insufficient_quota": QuotaExhaustedError,
    "credit_balance_exhausted": QuotaExhaustedError,
    "rate_limit_exceeded": RateLimitError,
    "invalid_request_error": InvalidRequestError,
    "invalid_api_key": AuthenticationError,
    "authentication_error": AuthenticationError,
    "server_error": ServerError,
    "server_is_overloaded": ServerError,
}
# OpenAI accepts schema names of 1-64 letters, digits, underscores and dashes.
_SCHEMA_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class _ErrorBody(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | str | None = None


class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _Completion(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: _ErrorBody | str | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None


class _ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_ChunkChoice] | None = None
    usage: _Usage | None = None
    error: _ErrorBody | str | None = None


_ENCODER = msgspec.json.Encoder()
_COMPLETION = msgspec.json.Decoder(_Completion)
_CHUNK = msgspec.json.Decoder(_Chunk)
_ERROR = msgspec.json.Decoder(_ErrorEnvelope)


def _finish_reason(value: str | None) -> FinishReason:
    """Normalises OpenAI's finish_reason."""
    return _FINISH.get(value or "", "other")


def _schema_name(schema: dict[str, Any]) -> str:
    """Derives the json_schema name OpenAI requires: the schema's title, else "output"."""
    title = schema.get("title")
    name = _SCHEMA_NAME_BAD.sub("_", title)[:64] if isinstance(title, str) else ""
    return name or "output"


def _error_from_object(error: _ErrorBody | str, *, status: int | None = None) -> LLMError:
    """Builds the typed error for an OpenAI error object, by status, else by type/code."""
    if isinstance(error, str):
        error = _ErrorBody(message=error)
    code = str(error.code) if error.code is not None else None
    kind = code if code in _KIND_ERRORS else error.type
    message = redact(error.message or "no error message")
    cls: type[LLMError]
    if status is not None:
        cls = error_for_status(status)
        if status == 429 and (code in _QUOTA_CODES or error.type == "insufficient_quota"):
            cls = QuotaExhaustedError
        elif status == 401:
            message += " (the credential was refreshed once)"
    elif isinstance(error.code, int) and 400 <= error.code < 600:
        cls = error_for_status(error.code)  # OpenAI-compatible servers put a status in `code`
    else:
        cls = _KIND_ERRORS.get(kind or "", ServerError)
    return cls(message, error_type=error.type, error_code=code)


def _response(
    *,
    content: str,
    model: str,
    latency_ms: float,
    finish: FinishReason,
    response_id: str | None,
    request_id: str | None,
    usage: _Usage | None,
) -> CompletionResponse:
    """Builds the response; a server that sent no usage reports 0 tokens."""
    prompt = usage.prompt_tokens_details if usage else None
    completion = usage.completion_tokens_details if usage else None
    return CompletionResponse(
        content=content,
        model=model,
        input_tokens=(usage.prompt_tokens or 0) if usage else 0,
        output_tokens=(usage.completion_tokens or 0) if usage else 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider="openai",
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=prompt.cached_tokens if prompt else None,
        reasoning_tokens=completion.reasoning_tokens if completion else None,
    )


def _refused(refusal: str, request_id: str | None) -> ContentFilterError:
    """Builds the error for a model's refusal, keeping its text."""
    return ContentFilterError(
        f"the model refused: {redact(refusal)}", provider="openai", request_id=request_id
    )


class _OpenAIStream:
    """Collects one Chat Completions stream: text deltas, finish reason, usage, `[DONE]`."""

    __slots__ = (
        "_config_model",
        "_finish",
        "_id",
        "_model",
        "_parts",
        "_refusal",
        "_usage",
        "done",
    )

    def __init__(self, config_model: str) -> None:
        self._config_model = config_model
        self._parts: list[str] = []
        self._refusal: list[str] = []
        self._finish: str | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._usage: _Usage | None = None
        self.done = False

    @property
    def complete(self) -> bool:
        """True once `[DONE]` arrived after a finish reason."""
        return self.done and self._finish is not None

    def feed(self, event: str, data: str) -> str | None:
        """Consumes one chunk; returns its text, or raises for an error chunk."""
        if data == "[DONE]":
            self.done = True
            return None
        chunk = decode_json(_CHUNK, data, provider="openai", what="stream chunk")
        if chunk.error is not None:
            raise _error_from_object(chunk.error)
        self._id = self._id or chunk.id
        self._model = self._model or chunk.model
        if chunk.usage is not None:
            self._usage = chunk.usage
        text = None
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
            delta = choice.delta
            if delta is not None:
                if delta.refusal:
                    self._refusal.append(delta.refusal)
                if delta.content:
                    text = delta.content
                    self._parts.append(text)
        return text

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response, raising a typed error for a refusal or no text."""
        content = "".join(self._parts)
        finish = _finish_reason(self._finish)
        if not content and self._refusal:
            raise _refused("".join(self._refusal), request_id)
        require_text(content, finish, provider="openai", request_id=request_id)
        return _response(
            content=content,
            model=self._model or self._config_model,
            latency_ms=latency_ms,
            finish=finish,
            response_id=self._id,
            request_id=request_id,
            usage=self._usage,
        )


class OpenAIProvider(HTTPProvider):
    """Calls OpenAI's Chat Completions API, or any server that speaks it.

    Args:
        config: the model and its default options.
        api_key: the key; default OPENAI_API_KEY.
        credentials: an object with `async get()`/`async refresh()` instead of a fixed key.
        base_url: the API base including `/v1`; default OPENAI_BASE_URL, else OpenAI's.
        http_client: a shared `httpx.AsyncClient` (not closed by `aclose`).
        timeout: seconds or an `httpx.Timeout` per HTTP exchange.
        organization: the OpenAI-Organization header; default OPENAI_ORG_ID.
        project: the OpenAI-Project header; default OPENAI_PROJECT_ID.
        max_tokens_field: "max_completion_tokens" (OpenAI's current models) or "max_tokens"
            (older OpenAI-compatible servers).
        system_role: "system", or "developer" for OpenAI reasoning models that want it.
    """

    provider_name: ClassVar[str] = "openai"
    env_keys: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    env_base_url: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    request_id_header: ClassVar[str | None] = "x-request-id"

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
    ) -> None:
        if max_tokens_field not in ("max_completion_tokens", "max_tokens"):
            raise ValueError(
                "max_tokens_field must be 'max_completion_tokens' or 'max_tokens', "
                f"got {max_tokens_field!r}"
            )
        if system_role not in ("system", "developer"):
            raise ValueError(f"system_role must be 'system' or 'developer', got {system_role!r}")
        for option, value in (("organization", organization), ("project", project)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{option} must be a non-empty string, got {value!r}")
        super().__init__(
            config,
            api_key=api_key,
            credentials=credentials,
            base_url=base_url,
            http_client=http_client,
            timeout=timeout,
        )
        self.max_tokens_field = max_tokens_field
        self.system_role = system_role
        self.organization = organization or os.environ.get("OPENAI_ORG_ID") or None
        self.project = project or os.environ.get("OPENAI_PROJECT_ID") or None
        self._endpoint = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        self._static_headers = headers

    def _url(self, stream: bool) -> str:
        """Returns the Chat Completions URL (the same for streams)."""
        return self._endpoint

    def _headers(self, key: str) -> dict[str, str]:
        """Returns the headers with the bearer key."""
        headers = self._static_headers.copy()
        headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, request: CompletionRequest, stream: bool) -> bytes:
        """Encodes the Chat Completions body."""
        system_role = self.system_role
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {
                    "role": system_role if m.role == "system" else m.role,
                    "content": m.content,
                }
                for m in request.messages
            ],
            self.max_tokens_field: request.max_tokens or self.config.max_output_tokens,
        }
        temperature = (
            request.temperature if request.temperature is not None else self.config.temperature
        )
        if temperature is not None:
            body["temperature"] = temperature
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(request.json_schema),
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        elif request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return _ENCODER.encode(body)

    def _parse_response(
        self, body: bytes, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a completion; a refusal, a filtered or an empty answer raises."""
        parsed = decode_json(_COMPLETION, body, provider="openai", what="completion")
        if parsed.error is not None and not parsed.choices:
            error = _error_from_object(parsed.error)
            error.provider, error.request_id = "openai", request_id
            raise error
        if not parsed.choices:
            raise _decode_error("a completion without choices", body, request_id)
        choice = parsed.choices[0]
        message = choice.message or _Message()
        content = message.content or ""
        finish = _finish_reason(choice.finish_reason)
        if not content and message.refusal:
            raise _refused(message.refusal, request_id)
        require_text(content, finish, provider="openai", request_id=request_id)
        return _response(
            content=content,
            model=parsed.model or self.config.model,
            latency_ms=latency_ms,
            finish=finish,
            response_id=parsed.id,
            request_id=request_id,
            usage=parsed.usage,
        )

    def _stream_parser(self) -> StreamParser:
        """Returns a parser for one stream."""
        return _OpenAIStream(self.config.model)

    def _error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping OpenAI's message, type and code."""
        try:
            envelope = _ERROR.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = _ErrorEnvelope()
        if envelope.error is None:
            cls = error_for_status(status)
            return cls(f"HTTP {status} without an OpenAI error body: {excerpt(body)!r}")
        return _error_from_object(envelope.error, status=status)

    def _error_in_body(self, body: bytes) -> LLMError | None:
        """Finds an `{"error": ...}` object in a 200 body that should have been a stream."""
        try:
            envelope = _ERROR.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return _error_from_object(envelope.error) if envelope.error is not None else None


def _decode_error(what: str, body: bytes, request_id: str | None) -> LLMError:
    """Builds a ResponseDecodeError for a 2xx body that parses but makes no sense."""
    return ResponseDecodeError(
        f"cannot parse {what}: {excerpt(body)!r}",
        provider="openai",
        request_id=request_id,
        body_excerpt=excerpt(body),
    )
