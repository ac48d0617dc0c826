"""Reads Anthropic error objects into ashford_llm's errors.

Error classes come from the HTTP status, the error `type` (for errors inside a 200 stream)
and, for spend and billing limits, the message: waiting cannot help with those.
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
from ashford_llm.providers._http import DECODE_FAILURES, excerpt

__all__ = ["ErrorDetail", "error_from_detail", "error_in_body", "parse_error"]

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


class ErrorDetail(msgspec.Struct):
    """An Anthropic error object: the fields this module reads."""

    type: str | None = None
    message: str | None = None
    details: Any = None


class _Envelope(msgspec.Struct):
    type: str | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


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


def error_from_detail(
    detail: ErrorDetail, status: int | None, *, waits: bool, request_id: str | None
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


def parse_error(status: int, headers: httpx.Headers, body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping Anthropic's message, type and code."""
    try:
        envelope = _ENVELOPE.decode(body)
    except DECODE_FAILURES:
        envelope = None
    if envelope is None or envelope.error is None:
        return error_for_status(status)(
            f"Anthropic answered HTTP {status} without its error JSON: {excerpt(body)!r}",
            status=status,
        )
    waits = "retry-after" in headers or "retry-after-ms" in headers
    return error_from_detail(envelope.error, status, waits=waits, request_id=envelope.request_id)


def error_in_body(body: bytes | str) -> LLMError | None:
    """Finds an Anthropic error object in a 200 body that should have been a stream."""
    try:
        envelope = _ENVELOPE.decode(body)
    except DECODE_FAILURES:
        return None
    if envelope.type != "error" or envelope.error is None:
        return None
    return error_from_detail(envelope.error, None, waits=True, request_id=envelope.request_id)
