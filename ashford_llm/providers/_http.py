"""HTTP plumbing shared by the vendor providers: errors, bodies and headers.

One choke point maps the HTTP client's exceptions to ashford_llm's (`HTTPX_ERRORS`,
`map_httpx_errors`), for httpx and for httpx2 (its maintained continuation, same API and the
providers' default client); the helpers decode vendor bodies into typed errors, read
server-requested waits, and turn an answer with no text into the right error. The provider is
in `provider.py`.
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

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

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "DECODE_FAILURES",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "HTTPX_ERRORS",
    "AsyncHTTPClient",
    "decode_arguments",
    "decode_json",
    "default_client",
    "excerpt",
    "map_httpx_errors",
    "parse_retry_after",
    "parse_should_retry",
    "require_text",
]

T = TypeVar("T")

EXCERPT_CHARS = 200
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
# Sized for many concurrent calls to one vendor host. Every connection may stay open between
# calls: a keep-alive limit below the concurrency closes and reopens connections on every
# burst (benchmarks/pool_limits.py). Idle ones expire before the vendors' balancers close them.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30.0
)

AsyncHTTPClient: TypeAlias = "httpx.AsyncClient | httpx2.AsyncClient"
"""What a provider's `http_client` may be: an httpx or an httpx2 client (same API)."""


def default_client(timeout: Any) -> httpx.AsyncClient:
    """Builds the providers' own client: httpx2 (its pool is cheaper under concurrency).

    `timeout` is any httpx or httpx2 Timeout. The result is typed as httpx's client, whose
    API httpx2 keeps; `docs/decisions/default-transport.md` records why httpx2.
    """
    import httpx2

    return httpx2.AsyncClient(  # type: ignore[return-value]
        timeout=convert_timeout(timeout, httpx2),
        limits=httpx2.Limits(
            max_connections=DEFAULT_LIMITS.max_connections,
            max_keepalive_connections=DEFAULT_LIMITS.max_keepalive_connections,
            keepalive_expiry=DEFAULT_LIMITS.keepalive_expiry,
        ),
    )


def client_library(client: object) -> Any:
    """Returns the module (httpx or httpx2) whose client `client` is."""
    if type(client).__module__.partition(".")[0] == "httpx2":
        return sys.modules["httpx2"]
    return httpx


def convert_timeout(timeout: Any, library: Any) -> Any:
    """Returns `timeout` (an httpx or httpx2 Timeout) as `library`'s Timeout."""
    if isinstance(timeout, library.Timeout):
        return timeout
    if not all(hasattr(timeout, phase) for phase in ("connect", "read", "write", "pool")):
        raise TypeError(
            f"timeout must be seconds or an httpx or httpx2 Timeout, got {type(timeout).__name__}"
        )
    return library.Timeout(
        connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
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


_BY_NAME: dict[str, type[LLMError]] = {cls.__name__: mapped for cls, mapped in HTTPX_ERRORS.items()}
"""The same table by class name, for httpx2's exceptions (the same classes under one name)."""


def _llm_error_for(exc: Exception) -> type[LLMError]:
    """Finds the mapped class of an httpx exception by walking its MRO."""
    for cls in type(exc).__mro__:
        if cls in HTTPX_ERRORS:
            return HTTPX_ERRORS[cls]
    raise LookupError(f"unmapped httpx exception {type(exc).__name__}")


def _httpx2_error_for(exc: Exception) -> type[LLMError] | None:
    """Maps an httpx2 exception through its nearest base named in HTTPX_ERRORS; else None."""
    httpx2 = sys.modules.get("httpx2")  # never imported here: a raiser has imported it
    if httpx2 is None or not isinstance(exc, httpx2.HTTPError):
        return None
    for cls in type(exc).__mro__:
        if cls.__module__.partition(".")[0] == "httpx2" and cls.__name__ in _BY_NAME:
            return _BY_NAME[cls.__name__]
    return NetworkError  # pragma: no cover - every httpx2.HTTPError has a listed base


def _is_local_protocol_error(exc: Exception) -> bool:
    httpx2 = sys.modules.get("httpx2")
    return httpx2 is not None and isinstance(exc, httpx2.LocalProtocolError)


_ILLEGAL_HEADER = "the request could not be encoded: a header value is illegal"


@contextmanager
def map_httpx_errors(provider: str) -> Iterator[None]:
    """Re-raises httpx and httpx2 exceptions (event-stream ones included) as ashford_llm's."""
    try:
        yield
    except httpx.LocalProtocolError:
        # httpx's message quotes the offending header value, which may be the API key: keep
        # neither the message nor the exception (a cause is printed with the traceback).
        raise InvalidRequestError(_ILLEGAL_HEADER, provider=provider) from None
    except httpx.HTTPError as exc:
        cls = _llm_error_for(exc)
        detail = str(exc) or type(exc).__name__
        raise cls(f"{type(exc).__name__}: {detail}", provider=provider) from exc
    except LLMError:
        raise
    except Exception as exc:
        if _is_local_protocol_error(exc):
            raise InvalidRequestError(_ILLEGAL_HEADER, provider=provider) from None
        mapped = _httpx2_error_for(exc)
        if mapped is None:
            raise
        detail = str(exc) or type(exc).__name__
        raise mapped(f"{type(exc).__name__}: {detail}", provider=provider) from exc


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
