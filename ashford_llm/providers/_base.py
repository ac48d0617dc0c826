"""HTTPProvider: the base of the vendor providers.

It owns the client (or uses a shared one), the credentials and the single 401 refresh (the
request is sent again only when the refresh gave a different key, so a bad static key costs
one request), measures latency, maps non-2xx answers to typed errors with their context, and
runs the Server-Sent Events loop. A vendor module supplies only its wire format: URLs, headers,
the request body, and parsers for responses, stream events and error bodies.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError, ResponseDecodeError, redact
from ashford_llm.protocol import AsyncCloseable
from ashford_llm.providers._http import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    excerpt,
    map_httpx_errors,
    parse_retry_after,
    parse_should_retry,
)
from ashford_llm.providers.credentials import (
    Credentials,
    EnvCredentials,
    StaticCredentials,
    checked_key,
)
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = ["HTTPProvider", "StreamParser", "add_usage_so_far"]

# What an httpx.AsyncClient made without `timeout=` has: 5 seconds for every phase.
_HTTPX_DEFAULT = httpx.Timeout(5.0)


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

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens the stream reported so far; None where it has not."""
        ...

    def feed(self, event: str, data: str) -> str | None:
        """Consumes one event; returns its text, or raises an LLMError for an error event."""
        ...

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from what the stream carried."""
        ...


def add_usage_so_far(error: LLMError, parser: StreamParser) -> None:
    """Gives a stream's error the usage reported before it failed, unless it has its own."""
    input_tokens, output_tokens = parser.usage
    if error.input_tokens is None:
        error.input_tokens = input_tokens
    if error.output_tokens is None:
        error.output_tokens = output_tokens


class HTTPProvider(AsyncCloseable):
    """Base of the vendor providers: client, credentials, 401 refresh, errors, SSE loop.

    Args:
        config: the vendor's model and default options.
        api_key: the key; when neither it nor `credentials` is given, the vendor's usual
            environment variables are read (a missing key is an error before any request).
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the API base; defaults to the vendor's (or its base-URL variable).
        http_client: a shared `httpx.AsyncClient`; the provider then does not close it.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange. When None, a shared
            client's own timeout applies, except httpx's 5-second default (a client made
            without `timeout=`), which would cut long generations: our default is used then.
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
        self._last_key: object = None
        self._checked_key: str | None = None
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            timeout=timeout or DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS
        )
        if timeout is None and http_client is not None and http_client.timeout == _HTTPX_DEFAULT:
            timeout = DEFAULT_TIMEOUT
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
        try:
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
        except LLMError as error:
            add_usage_so_far(error, parser)
            raise
        latency_ms = (time.perf_counter() - started) * 1000.0
        yield StreamEnd(parser.response(latency_ms, request_id))

    async def _key(self, *, refresh: bool) -> str:
        """Returns the current (or renewed) key, checked: any Credentials object may supply it."""
        key = await (self.credentials.refresh() if refresh else self.credentials.get())
        # The same key object as last time was checked then: skip the per-character scan.
        if key is self._last_key and self._checked_key is not None:
            return self._checked_key
        try:
            checked = checked_key(key)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(
                f"the credentials returned an unusable key: {exc}", provider=self.provider_name
            ) from None
        self._last_key, self._checked_key = key, checked
        return checked

    async def _renewed_key(self, rejected: str) -> str | None:
        """Refreshes the credential after a 401: the new key, or None when it is the same one.

        A static key, or an environment variable that did not change, gives the rejected key
        back, and sending it again would only be rejected again.
        """
        key = await self._key(refresh=True)
        return None if key == rejected else key

    async def _post(self, body: bytes, *, stream: bool) -> httpx.Response:
        """Posts the body; after a 401, repeats it once if refreshing gave a new key."""
        key = await self._key(refresh=False)
        for attempt in range(2):
            response = await self._client.post(
                self._url(stream), content=body, headers=self._headers(key), timeout=self._timeout
            )
            if response.status_code == 401 and attempt == 0:
                renewed = await self._renewed_key(key)
                if renewed is not None:
                    key = renewed
                    continue
            if response.status_code >= 300:
                raise self._error_with_context(
                    response.status_code, response.headers, response.content, renewed=attempt > 0
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _open_stream(self, body: bytes) -> AsyncIterator[httpx.Response]:
        """Opens a streamed response; after a 401, repeats once if refreshing gave a new key."""
        key = await self._key(refresh=False)
        for attempt in range(2):
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
                        renewed = await self._renewed_key(key)
                        if renewed is not None:
                            key = renewed
                            continue
                    raise self._error_with_context(
                        response.status_code, response.headers, content, renewed=attempt > 0
                    )
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
        renewed: bool = False,
    ) -> LLMError:
        """Builds the vendor's error and adds status, request id, retry-after and excerpt.

        A 401's message says whether a refreshed key was tried (`renewed`) or refreshing gave
        the same key, so the request was not repeated.
        """
        if unexpected is not None and status < 300:
            error: LLMError = self._error_in_body(body) or ResponseDecodeError(
                f"expected an event stream, got {unexpected or 'no content type'}: "
                f"{excerpt(body)!r}"
            )
        else:
            error = self._error(status, headers, body)
        error.provider = self.provider_name
        if status == 401:
            error.message += (
                " (rejected again after refreshing the credential once)"
                if renewed
                else " (refreshing the credential gave the same key, so it was not sent again)"
            )
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model!r})"
