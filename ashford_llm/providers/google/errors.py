"""Reads the Gemini API's error objects (google.rpc.Status) into ashford_llm's errors.

The class comes from the HTTP status, or, for an error object inside a 200 stream, from the
object's `status` and `code`. The message, the RPC status (`error_type`) and the ErrorInfo
reason (`error_code`, e.g. API_KEY_INVALID) are kept. A RESOURCE_EXHAUSTED is retryable with the
RetryInfo delay as `retry_after`, unless waiting cannot help (no delay given, a daily quota, or a
quota of zero): then it is QuotaExhaustedError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ashford_llm.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    error_for_status,
    redact,
)
from ashford_llm.providers._http import DECODE_FAILURES, excerpt, parse_retry_after

__all__ = ["Status", "error_from_status", "error_in_body", "parse_duration", "parse_error"]

# google.rpc status -> class, for error objects without an HTTP status (inside a 200 stream).
_RPC_ERRORS: dict[str, type[LLMError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "NOT_FOUND": InvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": LLMTimeoutError,
    "INTERNAL": ServerError,
    "UNAVAILABLE": ServerError,
    "ABORTED": ServerError,
    "UNKNOWN": ServerError,
}
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


class Status(msgspec.Struct, rename="camel"):
    """A google.rpc.Status error object: the fields this module reads."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[Any] | None = None


class _Envelope(msgspec.Struct):
    error: Status | None = None


_ENVELOPE_DECODER = msgspec.json.Decoder(_Envelope)


def parse_duration(value: Any) -> float | None:
    """Reads a protobuf Duration string such as "37s" or "55.846891726s" as seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def _details(status: Status, kind: str) -> list[dict[str, Any]]:
    """Returns the status details of one `@type`."""
    return [d for d in status.details or () if isinstance(d, dict) and d.get("@type") == kind]


def _quota_is_exhausted(status: Status, retry_after: float | None) -> bool:
    """True when waiting cannot help: no delay given, a daily quota, or a quota of zero."""
    if retry_after is None:
        return True
    for failure in _details(status, _QUOTA_FAILURE):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else ():
            if not isinstance(violation, dict):
                continue
            quota_id = str(violation.get("quotaId", ""))
            if "PerDay" in quota_id or str(violation.get("quotaValue", "")) == "0":
                return True
    return False


def error_from_status(
    status: Status, http_status: int | None, *, header_wait: float | None = None
) -> LLMError:
    """Builds the typed error for a google.rpc.Status, keeping its message, status and reason.

    A RESOURCE_EXHAUSTED with no wait (RetryInfo or a retry-after header) is quota exhaustion.
    """
    rpc = status.status
    reason = next(
        (str(d["reason"]) for d in _details(status, _ERROR_INFO) if d.get("reason")), None
    )
    # "0s" is a real delay (retry now), so only a missing or unreadable one is skipped.
    retry_after = next(
        (
            s
            for d in _details(status, _RETRY_INFO)
            if (s := parse_duration(d.get("retryDelay"))) is not None
        ),
        None,
    )
    code = http_status if http_status is not None else status.code
    message = redact(status.message or f"Gemini error {rpc or code or 'without a status'}")
    if code == 429 or rpc == "RESOURCE_EXHAUSTED":
        exhausted = _quota_is_exhausted(
            status, retry_after if retry_after is not None else header_wait
        )
        cls: type[LLMError] = QuotaExhaustedError if exhausted else RateLimitError
    elif http_status is not None and http_status >= 300:
        cls = error_for_status(http_status)
    elif rpc in _RPC_ERRORS:
        cls = _RPC_ERRORS[rpc]
    elif code is not None and code >= 400:
        cls = error_for_status(code)
    else:
        cls = ServerError
    if reason == "API_KEY_INVALID":
        message += " (the API key was rejected; check GOOGLE_API_KEY or GEMINI_API_KEY)"
    elif http_status == 401:
        message += " (rejected again after refreshing the credential once)"
    return cls(
        message,
        status=http_status,
        error_type=rpc,
        error_code=reason,
        retry_after=retry_after,
    )


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping Gemini's message, status and reason."""
    try:
        envelope = _ENVELOPE_DECODER.decode(body)
    except DECODE_FAILURES:
        envelope = None
    if envelope is None or envelope.error is None:
        return error_for_status(status)(
            f"Gemini answered HTTP {status} without its error JSON: {excerpt(body)!r}",
            status=status,
        )
    return error_from_status(envelope.error, status, header_wait=parse_retry_after(headers))


def error_in_body(body: bytes | str) -> LLMError | None:
    """Finds a Gemini error object in a 200 body, if it is one."""
    try:
        envelope = _ENVELOPE_DECODER.decode(body)
    except DECODE_FAILURES:
        return None
    return None if envelope.error is None else error_from_status(envelope.error, None)
