"""Reads OpenAI error objects into ashford_llm's errors.

The class comes from the HTTP status, else from the error's `type`/`code` (errors inside a
200 stream), with quota and billing exhaustion on a 429 as the fatal QuotaExhaustedError.
"""

from __future__ import annotations

import msgspec

from ashford_llm.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    error_for_status,
    redact,
)
from ashford_llm.providers._http import DECODE_FAILURES, excerpt

__all__ = ["ErrorBody", "error_from_body", "error_from_object", "error_in_body"]

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


class ErrorBody(msgspec.Struct):
    """An OpenAI error object: the fields this module reads."""

    message: str | None = None
    type: str | None = None
    code: str | int | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: ErrorBody | str | None = None


_ERROR = msgspec.json.Decoder(_ErrorEnvelope)


def error_from_object(error: ErrorBody | str, *, status: int | None = None) -> LLMError:
    """Builds the typed error for an OpenAI error object, by status, else by type/code."""
    if isinstance(error, str):
        error = ErrorBody(message=error)
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


def error_from_body(status: int, body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping OpenAI's message, type and code."""
    try:
        envelope = _ERROR.decode(body)
    except DECODE_FAILURES:
        envelope = _ErrorEnvelope()
    if envelope.error is None:
        cls = error_for_status(status)
        return cls(f"HTTP {status} without an OpenAI error body: {excerpt(body)!r}")
    return error_from_object(envelope.error, status=status)


def error_in_body(body: bytes | str) -> LLMError | None:
    """Finds an `{"error": ...}` object in a body that should have been an answer or a stream."""
    try:
        envelope = _ERROR.decode(body)
    except DECODE_FAILURES:
        return None
    return error_from_object(envelope.error) if envelope.error is not None else None
