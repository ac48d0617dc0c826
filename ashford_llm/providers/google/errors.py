"""Reads the Gemini API's error objects (google.rpc.Status) into ashford_llm's errors.

The class comes from the HTTP status, or, for an error object inside a 200 stream, from the
object's `status` and `code`. The message, the RPC status (`error_type`) and the ErrorInfo
reason (`error_code`, e.g. API_KEY_INVALID) are kept.

A RESOURCE_EXHAUSTED (429) is a RateLimitError, with the RetryInfo delay as `retry_after` when
one is given. Google sends a bare one (no details) for a transient capacity limit, such as
Vertex AI's dynamic shared quota, and says to retry with backoff. Only positive evidence that
waiting cannot help makes it the fatal QuotaExhaustedError: a per-day quota (a QuotaFailure
`quotaId`, or an ErrorInfo `quota_limit`, containing "PerDay"), a quota value of 0 (`quotaValue`,
`quota_limit_value`, or "limit: 0" in the message), the ErrorInfo reason BILLING_DISABLED, a
402, or Google's wording for used-up prepaid credit ("Your prepayment credits are depleted",
sent as a 429 and later as a 402). The same rule applies to an error object inside a stream.
"""

from __future__ import annotations

import re
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
from ashford_llm.providers._http import DECODE_FAILURES, excerpt

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
# google.api.ErrorReason values saying the account, not the request rate, stops the call.
_BILLING_REASONS = frozenset({"BILLING_DISABLED"})
# Google's message when a Gemini API project's prepaid credit is used up (no details attached).
_PREPAY_DEPLETED = re.compile(r"prepayment credits are depleted", re.IGNORECASE)
# The free-tier message names each exceeded quota as "..., limit: 0, model: ..." when it is zero.
_ZERO_LIMIT = re.compile(r"\blimit: 0(?![\d.])")


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


def _is_daily_or_zero(quota_id: Any, value: Any) -> bool:
    """True for a per-day quota id or a quota value of 0 (int64 in JSON: "0", or 0)."""
    return "PerDay" in str(quota_id or "") or str(value) == "0"


def _waiting_cannot_help(status: Status, code: int | None) -> bool:
    """True only on positive evidence that the quota will not come back within a retry budget.

    The evidence: a 402, a billing reason in ErrorInfo, a per-day or zero quota in QuotaFailure
    or ErrorInfo's metadata, or the message's words for used-up prepaid credit or a zero limit.
    """
    if code == 402:
        return True
    message = status.message or ""
    if _PREPAY_DEPLETED.search(message) or _ZERO_LIMIT.search(message):
        return True
    for info in _details(status, _ERROR_INFO):
        if info.get("reason") in _BILLING_REASONS:
            return True
        metadata = info.get("metadata")
        if isinstance(metadata, dict) and _is_daily_or_zero(
            metadata.get("quota_limit"), metadata.get("quota_limit_value")
        ):
            return True
    for failure in _details(status, _QUOTA_FAILURE):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else ():
            if isinstance(violation, dict) and _is_daily_or_zero(
                violation.get("quotaId"), violation.get("quotaValue")
            ):
                return True
    return False


def error_from_status(status: Status, http_status: int | None) -> LLMError:
    """Builds the typed error for a google.rpc.Status, keeping its message, status and reason.

    A 402, 429 or RESOURCE_EXHAUSTED is a RateLimitError unless waiting cannot help.
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
    if code in (402, 429) or rpc == "RESOURCE_EXHAUSTED":
        exhausted = _waiting_cannot_help(status, code)
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
    return error_from_status(envelope.error, status)


def error_in_body(body: bytes | str) -> LLMError | None:
    """Finds a Gemini error object in a 200 body, if it is one."""
    try:
        envelope = _ENVELOPE_DECODER.decode(body)
    except DECODE_FAILURES:
        return None
    return None if envelope.error is None else error_from_status(envelope.error, None)
