"""HTTP plumbing shared by the vendor providers.

One choke point maps httpx's exceptions to ashford_llm's (`HTTPX_ERRORS`, `map_httpx_errors`);
`HTTPProvider` owns the client, the credentials and the single 401 refresh, measures latency,
and runs the Server-Sent Events loop. A vendor module supplies only its wire format: URLs,
headers, the request body, and parsers for responses, stream events and error bodies.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from httpx_sse import EventSource, SSEError

from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    MissingCredentialsError,
    NetworkError,
    ResponseDecodeError,
    redact,
)
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    FinishReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = [
    "DECODE_FAILURES",
    "HTTPX_ERRORS",
    "Credentials",
    "EnvCredentials",
    "HTTPProvider",
    "StaticCredentials",
    "StreamParser",
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
    SSEError: ResponseDecodeError,  # a 200 whose content type is not text/event-stream
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


class Credentials(Protocol):
    """Supplies an API key, and a fresh one after the vendor rejected it."""

    async def get(self) -> str:
        """Returns the current key."""
        ...

    async def refresh(self) -> str:
        """Returns a renewed key (called once after a 401)."""
        ...


class StaticCredentials:
    """A fixed key; refreshing returns the same key."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key.strip():
            raise ValueError("api_key must be a non-empty string")
        self._key = key

    async def get(self) -> str:
        """Returns the key."""
        return self._key

    async def refresh(self) -> str:
        """Returns the same key: a static key cannot be renewed."""
        return self._key

    def __repr__(self) -> str:
        return "StaticCredentials(key=[redacted])"


class EnvCredentials:
    """Reads the key from the first set environment variable; refresh re-reads them."""

    __slots__ = ("_key", "names", "provider")

    def __init__(self, names: tuple[str, ...], *, provider: str) -> None:
        self.names = names
        self.provider = provider
        self._key = self._read()

    def _read(self) -> str:
        """Returns the first non-empty variable's value, or raises naming all of them."""
        for name in self.names:
            value = os.environ.get(name, "").strip()
            if value:
                return value
        raise MissingCredentialsError(
            f"no API key for {self.provider}: pass api_key= or set " + " or ".join(self.names),
            provider=self.provider,
        )

    async def get(self) -> str:
        """Returns the key read at construction or at the last refresh."""
        return self._key

    async def refresh(self) -> str:
        """Re-reads the environment, so a rotated key is picked up."""
        self._key = self._read()
        return self._key

    def __repr__(self) -> str:
        return f"EnvCredentials(names={self.names!r})"


class StreamParser(Protocol):
    """Turns one vendor's stream events into text, and knows when the stream is complete."""

    @property
    def done(self) -> bool:
        """True once the vendor's terminal event arrived; the loop stops reading."""
        ...

    @property
    def complete(self) -> bool:
        """True when everything needed for the final response arrived."""
        ...

    def feed(self, event: str, data: str) -> str | None:
        """Consumes one event; returns its text, or raises an LLMError for an error event."""
        ...

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from what the stream carried."""
        ...


class HTTPProvider:
    """Base of the vendor providers: client, credentials, 401 refresh, errors, SSE loop.

    Args:
        config: the vendor's model and default options.
        api_key: the key; when neither it nor `credentials` is given, the vendor's usual
            environment variables are read (a missing key is an error before any request).
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the API base; defaults to the vendor's (or its base-URL variable).
        http_client: a shared `httpx.AsyncClient`; the provider then does not close it.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
    """

    provider_name: ClassVar[str]
    env_keys: ClassVar[tuple[str, ...]]
    env_base_url: ClassVar[str | None] = None
    default_base_url: ClassVar[str]
    request_id_header: ClassVar[str | None] = None

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        if api_key is not None and credentials is not None:
            raise ValueError("pass api_key or credentials, not both")
        self.config = config
        if credentials is not None:
            self.credentials: Credentials = credentials
        elif api_key is not None:
            self.credentials = StaticCredentials(api_key)
        else:
            self.credentials = EnvCredentials(self.env_keys, provider=self.provider_name)
        env_base = os.environ.get(self.env_base_url, "") if self.env_base_url else ""
        self.base_url = (base_url or env_base or self.default_base_url).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        self.server_address: str = parts.hostname
        self.server_port: int = parts.port or (443 if parts.scheme == "https" else 80)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            if timeout <= 0:
                raise ValueError(f"timeout must be positive, got {timeout!r}")
            timeout = httpx.Timeout(float(timeout))
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            timeout=timeout or DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS
        )
        self._timeout: httpx.Timeout | Any = (
            timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        )

    # --- what a vendor module supplies -------------------------------------------------

    def _url(self, stream: bool) -> str:
        """Returns the full URL for a plain or streamed call."""
        raise NotImplementedError

    def _headers(self, key: str) -> dict[str, str]:
        """Returns the request headers, auth included."""
        raise NotImplementedError

    def _body(self, request: CompletionRequest, stream: bool) -> bytes:
        """Encodes the vendor's request body."""
        raise NotImplementedError

    def _parse_response(
        self, body: bytes, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a 200 body into a response, raising a typed error for no text."""
        raise NotImplementedError

    def _stream_parser(self) -> StreamParser:
        """Returns a fresh parser for one stream."""
        raise NotImplementedError

    def _error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Builds the typed error for a non-2xx answer from the vendor's error body."""
        raise NotImplementedError

    # --- shared behaviour --------------------------------------------------------------

    @property
    def name(self) -> str:
        """The vendor's name, e.g. "openai"."""
        return self.provider_name

    @property
    def model(self) -> str:
        """The configured model name."""
        return self.config.model

    def _request_id(self, headers: httpx.Headers) -> str | None:
        """Reads the vendor's request id header, if it has one."""
        return headers.get(self.request_id_header) if self.request_id_header else None

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Sends one request and returns the parsed answer."""
        body = self._body(request, stream=False)
        started = time.perf_counter()
        with map_httpx_errors(self.provider_name):
            response = await self._post(body, stream=False)
        latency_ms = (time.perf_counter() - started) * 1000.0
        return self._parse_response(
            response.content, latency_ms, self._request_id(response.headers)
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Streams the answer: TextDeltas as they arrive, then one StreamEnd."""
        body = self._body(request, stream=True)
        started = time.perf_counter()
        parser = self._stream_parser()
        request_id: str | None = None
        with map_httpx_errors(self.provider_name):
            async with self._open_stream(body) as response:
                request_id = self._request_id(response.headers)
                async for sse in EventSource(response).aiter_sse():
                    try:
                        text = parser.feed(sse.event, sse.data)
                    except LLMError as error:
                        error.provider = error.provider or self.provider_name
                        error.request_id = error.request_id or request_id
                        raise
                    if text:
                        yield TextDelta(text)
                    if parser.done:
                        break
        if not parser.complete:
            raise ResponseDecodeError(
                "the stream ended before its terminal event",
                provider=self.provider_name,
                request_id=request_id,
            )
        latency_ms = (time.perf_counter() - started) * 1000.0
        yield StreamEnd(parser.response(latency_ms, request_id))

    async def _post(self, body: bytes, *, stream: bool) -> httpx.Response:
        """Posts the body; refreshes the credential once on a 401; raises on non-2xx."""
        for attempt in range(2):
            key = await (self.credentials.get() if attempt == 0 else self.credentials.refresh())
            response = await self._client.post(
                self._url(stream), content=body, headers=self._headers(key), timeout=self._timeout
            )
            if response.status_code == 401 and attempt == 0:
                continue
            if response.status_code >= 300:
                raise self._error_with_context(
                    response.status_code, response.headers, response.content
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _open_stream(self, body: bytes) -> AsyncIterator[httpx.Response]:
        """Opens a streamed response; refreshes once on a 401; raises on non-2xx."""
        for attempt in range(2):
            key = await (self.credentials.get() if attempt == 0 else self.credentials.refresh())
            request = self._client.build_request(
                "POST",
                self._url(True),
                content=body,
                headers=self._headers(key),
                timeout=self._timeout,
            )
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code >= 300:
                    content = await response.aread()
                    if response.status_code == 401 and attempt == 0:
                        continue
                    raise self._error_with_context(response.status_code, response.headers, content)
                content_type = response.headers.get("content-type", "")
                if "text/event-stream" not in content_type:
                    content = await response.aread()
                    raise self._error_with_context(
                        response.status_code, response.headers, content, unexpected=content_type
                    )
                yield response
                return
            finally:
                await response.aclose()
        raise AssertionError("unreachable")  # pragma: no cover

    def _error_with_context(
        self,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        *,
        unexpected: str | None = None,
    ) -> LLMError:
        """Builds the vendor's error and adds status, request id, retry-after and excerpt."""
        if unexpected is not None and status < 300:
            error: LLMError = self._error_in_body(body) or ResponseDecodeError(
                f"expected an event stream, got {unexpected or 'no content type'}: "
                f"{excerpt(body)!r}"
            )
        else:
            error = self._error(status, headers, body)
        error.provider = self.provider_name
        if error.status is None and status >= 300:
            error.status = status
        error.request_id = error.request_id or self._request_id(headers)
        if error.retry_after is None:
            error.retry_after = parse_retry_after(headers)
        if error.should_retry is None:
            error.should_retry = parse_should_retry(headers)
        if error.body_excerpt is None:
            error.body_excerpt = redact(excerpt(body))
        return error

    def _error_in_body(self, body: bytes) -> LLMError | None:
        """Finds an error object in a 200 body that should have been a stream, if any."""
        return None

    async def aclose(self) -> None:
        """Closes the HTTP client if this provider created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model!r})"
