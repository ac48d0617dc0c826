"""Reads Bedrock's errors, plain and inside an event stream, into ashford_llm's errors.

The error's name comes from the `x-amzn-ErrorType` header (`ThrottlingException:http://...`,
the part before the colon, as botocore reads it), else the body's `__type` (after a `#`) or
`code`; the message from the body's `message` (or `Message`). In a stream an exception is a
frame whose `:exception-type` is the same name in lower camel case (`throttlingException`).

| Name | HTTP | Class |
|---|---|---|
| ThrottlingException | 429 | RateLimitError |
| ModelNotReadyException | 429 | ServerError (the model is loading; AWS's SDKs retry it) |
| InternalServerException | 500 | ServerError |
| ServiceUnavailableException | 503 | ServerError |
| ModelStreamErrorException | 424 | ServerError (in a stream: "Retry your request") |
| ModelErrorException | 424 | ServerError (the model failed; another attempt may pass) |
| ModelTimeoutException | 408 | LLMTimeoutError |
| ValidationException | 400 | InvalidRequestError |
| ResourceNotFoundException | 404 | InvalidRequestError (no such model in the region) |
| ServiceQuotaExceededException | 400 | QuotaExhaustedError (waiting seconds cannot help) |
| AccessDeniedException | 403 | PermissionDeniedError (no access to the model) |
| UnrecognizedClientException | 403 | PermissionDeniedError (an unknown key) |
| InvalidSignatureException | 403 | PermissionDeniedError (a bad signature) |
| ExpiredTokenException | 403 | AuthenticationError (a retry signs with refreshed keys) |

Any other name falls back to the HTTP status (`error_for_status`).
"""

from __future__ import annotations

from collections.abc import Mapping

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

__all__ = ["ERRORS", "error_type", "parse_error", "stream_exception"]

ERRORS: Mapping[str, type[LLMError]] = {
    "ThrottlingException": RateLimitError,
    "ModelNotReadyException": ServerError,
    "InternalServerException": ServerError,
    "ServiceUnavailableException": ServerError,
    "ModelStreamErrorException": ServerError,
    "ModelErrorException": ServerError,
    "ModelTimeoutException": LLMTimeoutError,
    "ValidationException": InvalidRequestError,
    "ResourceNotFoundException": InvalidRequestError,
    "ServiceQuotaExceededException": QuotaExhaustedError,
    "AccessDeniedException": PermissionDeniedError,
    "UnrecognizedClientException": PermissionDeniedError,
    "InvalidSignatureException": PermissionDeniedError,
    "ExpiredTokenException": AuthenticationError,
}
"""Bedrock error name -> class; the table in the module docstring says why."""


class _Body(msgspec.Struct):
    message: str | None = None
    Message: str | None = None
    type: str | None = msgspec.field(default=None, name="__type")
    code: str | None = None


_BODY = msgspec.json.Decoder(_Body)


def _read_body(body: bytes | str) -> _Body | None:
    """Decodes an error body, or None when it is not a JSON object."""
    try:
        return _BODY.decode(body)
    except DECODE_FAILURES:
        return None


def error_type(header: str | None, body: _Body | None) -> str | None:
    """Returns the error's name: from the header (before `:`), else the body's `__type`/`code`."""
    if header:
        return header.partition(":")[0].strip() or None
    if body is None:
        return None
    raw = body.type or body.code
    return raw.rpartition("#")[2] if raw else None


def _build(name: str | None, message: str, status: int | None) -> LLMError:
    """Builds the class of `name`, else of the status, else a ServerError."""
    cls = ERRORS.get(name or "")
    if cls is None:
        cls = error_for_status(status) if status is not None else ServerError
    return cls(redact(message), status=status, error_type=name)


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> LLMError:
    """Maps a non-2xx answer to its class, keeping Bedrock's error name and message."""
    parsed = _read_body(body)
    name = error_type(headers.get("x-amzn-errortype"), parsed)
    message = (parsed.message or parsed.Message) if parsed is not None else None
    if not message:
        message = f"Bedrock answered HTTP {status}: {excerpt(body)!r}"
    return _build(name, message, status)


def stream_exception(exception_type: str, payload: str) -> LLMError:
    """Maps an exception frame of a stream (`throttlingException`, ...) to its class."""
    name = exception_type[:1].upper() + exception_type[1:]
    parsed = _read_body(payload)
    message = (parsed.message or parsed.Message) if parsed is not None else None
    return _build(name, message or f"Bedrock stream failed: {name}", None)
