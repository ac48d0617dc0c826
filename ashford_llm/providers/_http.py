"""HTTP plumbing shared by the vendor providers: errors, bodies and headers.

One choke point maps httpx's exceptions to ashford_llm's (`HTTPX_ERRORS`, `map_httpx_errors`);
the helpers decode vendor bodies into typed errors, read server-requested waits, and turn an
answer with no text into the right error. The provider is in `provider.py`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import msgspec

from ashford_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    NetworkError,
    ResponseDecodeError,
)
from ashford_llm.types import (
    FinishReason,
)

__all__ = [
    "DECODE_FAILURES",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "HTTPX_ERRORS",
    "decode_arguments",
    "decode_json",
    "excerpt",
    "map_httpx_errors",
    "parse_retry_after",
    "parse_should_retry",
    "require_text",
]

T = TypeVar("T")

EXCERPT_CHARS = 200
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
# Sized for many concurrent calls to one vendor host; idle connections expire before the
# vendors' load balancers close them.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0
)

DECODE_FAILURES: tuple[type[Exception], ...] = (
    msgspec.DecodeError,  # ValidationError included
    UnicodeDecodeError,  # msgspec raises it for invalid UTF-8 inside a JSON string
    RecursionError,  # msgspec raises it for JSON nested about 1000 levels deep
)
"""What decoding a vendor body with msgspec can raise for a body that is not what we read."""

HTTPX_ERRORS: dict[type[httpx.HTTPError], type[LLMError]] = {
    httpx.RequestError: NetworkError,
    httpx.TransportError: NetworkError,
    httpx.TimeoutException: LLMTimeoutError,
    httpx.NetworkError: NetworkError,
    httpx.ProtocolError: NetworkError,
    httpx.RemoteProtocolError: NetworkError,
    httpx.ProxyError: NetworkError,
    httpx.LocalProtocolError: InvalidRequestError,
    httpx.UnsupportedProtocol: InvalidRequestError,
    httpx.DecodingError: ResponseDecodeError,
    httpx.TooManyRedirects: ResponseDecodeError,
    httpx.HTTPStatusError: ResponseDecodeError,
}
"""httpx exception -> ashford_llm error; a subclass maps through its nearest listed base."""


def _llm_error_for(exc: httpx.HTTPError) -> type[LLMError]:
    """Finds the mapped class of an httpx exception by walking its MRO."""
    for cls in type(exc).__mro__:
        if cls in HTTPX_ERRORS:
            return HTTPX_ERRORS[cls]
    raise LookupError(f"unmapped httpx exception {type(exc).__name__}")


@contextmanager
def map_httpx_errors(provider: str) -> Iterator[None]:
    """Re-raises httpx exceptions (event-stream ones included) as ashford_llm errors."""
    try:
        yield
    except httpx.LocalProtocolError:
        # httpx's message quotes the offending header value, which may be the API key: keep
        # neither the message nor the exception (a cause is printed with the traceback).
        raise InvalidRequestError(
            "the request could not be encoded: a header value is illegal", provider=provider
        ) from None
    except httpx.HTTPError as exc:
        cls = _llm_error_for(exc)
        detail = str(exc) or type(exc).__name__
        raise cls(f"{type(exc).__name__}: {detail}", provider=provider) from exc


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """Returns the start of a body as text, for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def decode_json(
    decoder: msgspec.json.Decoder[T], body: bytes | str, *, provider: str, what: str
) -> T:
    """Decodes a vendor body, turning a parse failure into ResponseDecodeError."""
    try:
        return decoder.decode(body)
    except DECODE_FAILURES as exc:
        raise ResponseDecodeError(
            f"cannot parse {what}: {exc}: {excerpt(body)!r}",
            provider=provider,
            body_excerpt=excerpt(body),
        ) from exc


_ARGUMENTS: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def decode_arguments(raw: str | bytes, *, tool: str) -> dict[str, Any]:
    """Decodes a tool call's arguments (a JSON object; empty text is `{}`).

    Arguments that are not a JSON object raise ResponseDecodeError (retryable: the model may
    write them right the next time) with the raw text in `body_excerpt`.
    """
    if not raw or not raw.strip():
        return {}
    try:
        return _ARGUMENTS.decode(raw)
    except DECODE_FAILURES as exc:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        raise ResponseDecodeError(
            f"the arguments of a call of tool {tool!r} are not a JSON object: {exc}: "
            f"{excerpt(text)!r}",
            body_excerpt=text,
        ) from exc


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Reads a server-requested wait in seconds from retry-after-ms or retry-after.

    retry-after may be seconds (fractions allowed) or an HTTP date; unusable values are None.
    """
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            millis = float(value)
        except ValueError:
            millis = -1.0
        if millis >= 0 and millis == millis and millis != float("inf"):
            return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(seconds, 0.0)
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return None
    return seconds


def parse_should_retry(headers: Mapping[str, str]) -> bool | None:
    """Reads the vendor's `x-should-retry` verdict, if it sent one."""
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def require_text(
    content: str, finish_reason: FinishReason, *, provider: str, request_id: str | None
) -> None:
    """Raises when an answer has no text: a filter's block or another empty answer."""
    if content:
        return
    if finish_reason == "content_filter":
        raise ContentFilterError(
            "the vendor's safety filter blocked the output",
            provider=provider,
            request_id=request_id,
        )
    raise EmptyResponseError(
        f"the vendor returned no text (finish reason {finish_reason!r})",
        provider=provider,
        request_id=request_id,
    )
