"""Reads OpenAI Chat Completions answers: completions, stream chunks and error objects.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls
never break parsing (OpenAI-compatible servers omit many of them). Error classes come from the
HTTP status, else from the error's `type`/`code` (errors inside a 200 stream), with quota and
billing exhaustion on a 429 as the fatal QuotaExhaustedError.
"""

from __future__ import annotations

import msgspec

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
from ashford_llm.providers._http import DECODE_FAILURES, decode_json, excerpt, require_text
from ashford_llm.types import CompletionResponse, FinishReason

__all__ = ["OpenAIStream", "error_from_body", "error_in_body", "parse_completion"]

PROVIDER = "openai"
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


_COMPLETION = msgspec.json.Decoder(_Completion)
_CHUNK = msgspec.json.Decoder(_Chunk)
_ERROR = msgspec.json.Decoder(_ErrorEnvelope)


def _finish_reason(value: str | None) -> FinishReason:
    """Normalises OpenAI's finish_reason."""
    return _FINISH.get(value or "", "other")


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
        provider=PROVIDER,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=prompt.cached_tokens if prompt else None,
        reasoning_tokens=completion.reasoning_tokens if completion else None,
    )


def _refused(refusal: str, request_id: str | None) -> ContentFilterError:
    """Builds the error for a model's refusal, keeping its text."""
    return ContentFilterError(
        f"the model refused: {redact(refusal)}", provider=PROVIDER, request_id=request_id
    )


class OpenAIStream:
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
        """True once `[DONE]` arrived: the server ended the stream, it was not cut."""
        return self.done

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens of the usage chunk, if one arrived."""
        if self._usage is None:
            return None, None
        return self._usage.prompt_tokens, self._usage.completion_tokens

    def feed(self, event: str, data: str) -> str | None:
        """Consumes one chunk; returns its text, or raises for an error chunk."""
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = _CHUNK.decode(data)
        except DECODE_FAILURES:
            # Off the per-chunk path: decode again for the shared typed error.
            chunk = decode_json(_CHUNK, data, provider=PROVIDER, what="stream chunk")
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
        require_text(content, finish, provider=PROVIDER, request_id=request_id)
        return _response(
            content=content,
            model=self._model or self._config_model,
            latency_ms=latency_ms,
            finish=finish,
            response_id=self._id,
            request_id=request_id,
            usage=self._usage,
        )


def parse_completion(
    body: bytes, *, config_model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a completion; a refusal, a filtered or an empty answer raises."""
    parsed = decode_json(_COMPLETION, body, provider=PROVIDER, what="completion")
    if parsed.error is not None and not parsed.choices:
        error = _error_from_object(parsed.error)
        error.provider, error.request_id = PROVIDER, request_id
        raise error
    if not parsed.choices:
        raise ResponseDecodeError(
            f"cannot parse a completion without choices: {excerpt(body)!r}",
            provider=PROVIDER,
            request_id=request_id,
            body_excerpt=excerpt(body),
        )
    choice = parsed.choices[0]
    message = choice.message or _Message()
    content = message.content or ""
    finish = _finish_reason(choice.finish_reason)
    if not content and message.refusal:
        raise _refused(message.refusal, request_id)
    require_text(content, finish, provider=PROVIDER, request_id=request_id)
    return _response(
        content=content,
        model=parsed.model or config_model,
        latency_ms=latency_ms,
        finish=finish,
        response_id=parsed.id,
        request_id=request_id,
        usage=parsed.usage,
    )


def error_from_body(status: int, body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping OpenAI's message, type and code."""
    try:
        envelope = _ERROR.decode(body)
    except DECODE_FAILURES:
        envelope = _ErrorEnvelope()
    if envelope.error is None:
        cls = error_for_status(status)
        return cls(f"HTTP {status} without an OpenAI error body: {excerpt(body)!r}")
    return _error_from_object(envelope.error, status=status)


def error_in_body(body: bytes) -> LLMError | None:
    """Finds an `{"error": ...}` object in a 200 body that should have been a stream."""
    try:
        envelope = _ERROR.decode(body)
    except DECODE_FAILURES:
        return None
    return _error_from_object(envelope.error) if envelope.error is not None else None
