"""HTTPProvider: the one concrete vendor provider, driven by a dialect.

It owns what every vendor shares: the client (or a shared one), the credentials and the
single 401 refresh (the request is sent again only when the refresh gave a different key, so
a bad static key costs one request), latency, the stream loop, and the context every error
carries (provider, status, request id, retry-after, body excerpt). The dialect
(`dialect.Dialect`) supplies the vendor's wire format; where a key is not the credential, a
`RequestSigner` signs each request just before it is sent (AWS SigV4 for Bedrock).
`OpenAIProvider`, `AnthropicProvider` and `GoogleProvider` are this class with their vendor's
dialect built from their options.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError, ResponseDecodeError, redact
from ashford_llm.protocol import AsyncCloseable, ProviderInfo
from ashford_llm.providers._http import (
    DEFAULT_TIMEOUT,
    AsyncHTTPClient,
    client_library,
    convert_timeout,
    default_client,
    excerpt,
    map_httpx_errors,
    parse_retry_after,
    parse_should_retry,
)
from ashford_llm.providers.credentials import (
    Credentials,
    EnvCredentials,
    RequestSigner,
    StaticCredentials,
    checked_key,
)
from ashford_llm.providers.dialect import Dialect, StreamDecoder
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["HTTPProvider", "add_usage_so_far", "check_config", "resolve_base_url"]

# What an httpx or httpx2 AsyncClient made without `timeout=` has: 5 seconds for every phase.
_HTTPX_DEFAULT = (5.0, 5.0, 5.0, 5.0)


def _phases(timeout: Any) -> tuple[float | None, ...]:
    return (timeout.connect, timeout.read, timeout.write, timeout.pool)


def add_usage_so_far(error: LLMError, decoder: StreamDecoder) -> None:
    """Gives a stream's error the usage reported before it failed, unless it has its own."""
    input_tokens, output_tokens = decoder.usage
    if error.input_tokens is None:
        error.input_tokens = input_tokens
    if error.output_tokens is None:
        error.output_tokens = output_tokens


def check_config(config: Any, *names: str) -> ModelConfig:
    """Returns `config` if it is a ModelConfig for one of `names` (the provider's names)."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if config.provider.strip().lower() not in names:
        raise ValueError(
            f"config.provider is {config.provider!r}, but this provider serves "
            + " or ".join(repr(name) for name in names)
        )
    return config


def resolve_base_url(given: str | None, env_var: str | None, default: str) -> str:
    """Returns the API root: the one given, else the environment variable's, else the default."""
    env = os.environ.get(env_var, "") if env_var else ""
    base_url = (given or env or default).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    return base_url


class HTTPProvider(AsyncCloseable):
    """Calls one vendor's HTTP API, as its dialect describes it, whole or streamed.

    Args:
        dialect: the vendor's wire format, built for one model.
        env_keys: environment variables that may hold the key, first set wins.
        api_key: the key; when neither it nor `credentials` is given, `env_keys` are read
            (a missing key is an error before any request).
        credentials: an object with `async get()` and `async refresh()` returning keys.
        signer: signs each request at send time instead of a key (no `api_key`,
            `credentials` or `env_keys` then; the dialect's headers get an empty key).
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient`; the provider then
            does not close it. Without one the provider makes its own httpx2 client.
        timeout: seconds or an httpx / httpx2 `Timeout` for each HTTP exchange. When None, a
            shared client's own timeout applies, except the 5-second default of a client made
            without `timeout=`, which would cut long generations: our default is used then.
        max_output_tokens: the output budget the dialect sends by default (for `info`).
        temperature: the temperature the dialect sends by default (for `info`).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        env_keys: tuple[str, ...] = (),
        api_key: str | None = None,
        credentials: Credentials | None = None,
        signer: RequestSigner | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | Any | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        if api_key is not None and credentials is not None:
            raise ValueError("pass api_key or credentials, not both")
        if signer is not None and (api_key is not None or credentials is not None or env_keys):
            raise ValueError("a signer authenticates the requests: pass no key or credentials")
        self.dialect = dialect
        self.signer = signer
        self.credentials: Credentials | None
        if signer is not None:
            self.credentials = None
        elif credentials is not None:
            self.credentials = credentials
        elif api_key is not None:
            self.credentials = StaticCredentials(api_key)
        else:
            self.credentials = EnvCredentials(env_keys, provider=dialect.name)
        parts = urlsplit(dialect.base_url)
        self._info = ProviderInfo(
            name=dialect.name,
            model=dialect.model,
            otel_provider_name=dialect.otel_provider_name,
            server_address=parts.hostname,
            server_port=parts.port or (443 if parts.scheme == "https" else 80),
            max_output_tokens=max_output_tokens,
            temperature=temperature,
        )
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            if timeout <= 0:
                raise ValueError(f"timeout must be positive, got {timeout!r}")
            timeout = httpx.Timeout(float(timeout))
        self._last_key: object = None
        self._checked_key: str | None = None
        self._owns_client = http_client is None
        # Typed as httpx's client: httpx2's has the same API (`client_library` tells which).
        self._client: httpx.AsyncClient = (
            default_client(timeout or DEFAULT_TIMEOUT) if http_client is None else http_client  # type: ignore[assignment]
        )
        library = client_library(self._client)
        if (
            timeout is None
            and http_client is not None
            and _phases(http_client.timeout) == _HTTPX_DEFAULT
        ):
            timeout = DEFAULT_TIMEOUT
        self._timeout: httpx.Timeout | Any = (
            convert_timeout(timeout, library) if timeout is not None else library.USE_CLIENT_DEFAULT
        )

    @property
    def name(self) -> str:
        """The provider's name, e.g. "openai"."""
        return self.dialect.name

    @property
    def info(self) -> ProviderInfo:
        """The model, vendor, server and defaults this provider calls with."""
        return self._info

    @property
    def model(self) -> str:
        """The configured model name."""
        return self.dialect.model

    @property
    def base_url(self) -> str:
        """The API root the requests go to."""
        return self.dialect.base_url

    def _request_id(self, headers: httpx.Headers) -> str | None:
        """Reads the vendor's request id header, if it has one."""
        header = self.dialect.request_id_header
        return headers.get(header) if header else None

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Sends one request and returns the parsed answer."""
        dialect = self.dialect
        body = self._encode(request, stream=False)
        started = time.perf_counter()
        with map_httpx_errors(dialect.name):
            response = await self._post(body)
        latency_ms = (time.perf_counter() - started) * 1000.0
        request_id = self._request_id(response.headers)
        try:
            return dialect.decode(response.content, latency_ms=latency_ms, request_id=request_id)
        except LLMError as error:
            error.provider = error.provider or dialect.name
            error.request_id = error.request_id or request_id
            raise

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams the answer: deltas as they arrive, then one StreamEnd."""
        dialect = self.dialect
        body = self._encode(request, stream=True)
        started = time.perf_counter()
        decoder = dialect.stream_decoder()
        request_id: str | None = None
        try:
            with map_httpx_errors(dialect.name):
                async with self._open_stream(body) as response:
                    request_id = self._request_id(response.headers)
                    async for event, data in dialect.frames(response):
                        for delta in decoder.feed(event, data):
                            yield delta
                        if decoder.done:
                            break
            if not decoder.complete:
                raise ResponseDecodeError("the stream ended before its terminal event")
            latency_ms = (time.perf_counter() - started) * 1000.0
            final = decoder.response(latency_ms, request_id)
        except LLMError as error:
            error.provider = error.provider or dialect.name
            error.request_id = error.request_id or request_id
            add_usage_so_far(error, decoder)
            raise
        yield StreamEnd(final)

    def _encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the body, naming the provider on a request the dialect refuses."""
        try:
            return self.dialect.encode(request, stream=stream)
        except LLMError as error:
            error.provider = error.provider or self.dialect.name
            raise

    async def _key(self, *, refresh: bool) -> str:
        """Returns the current (or renewed) key, checked: any Credentials object may supply it.

        A provider with a signer has no key: it returns "" (the signer adds the auth).
        """
        if self.credentials is None:
            return ""
        key = await (self.credentials.refresh() if refresh else self.credentials.get())
        # The same key object as last time was checked then: skip the per-character scan.
        if key is self._last_key and self._checked_key is not None:
            return self._checked_key
        try:
            checked = checked_key(key)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(
                f"the credentials returned an unusable key: {exc}", provider=self.dialect.name
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

    async def _post(self, body: bytes) -> httpx.Response:
        """Posts the body; after a 401, repeats it once if refreshing gave a new key."""
        url = self.dialect.url(stream=False)
        key = await self._key(refresh=False)
        for attempt in range(2):
            request = self._client.build_request(
                "POST", url, content=body, headers=self.dialect.headers(key), timeout=self._timeout
            )
            if self.signer is not None:
                await self.signer.sign(request)
            response = await self._client.send(request)
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
        url = self.dialect.url(stream=True)
        key = await self._key(refresh=False)
        for attempt in range(2):
            request = self._client.build_request(
                "POST", url, content=body, headers=self.dialect.headers(key), timeout=self._timeout
            )
            if self.signer is not None:
                await self.signer.sign(request)
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
                if self.dialect.stream_content_type not in content_type:
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
            error: LLMError = self.dialect.error_in_body(body) or ResponseDecodeError(
                f"expected an event stream, got {unexpected or 'no content type'}: "
                f"{excerpt(body)!r}"
            )
        else:
            error = self.dialect.error(status, headers, body)
        error.provider = self.dialect.name
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

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Sends one request to another endpoint of the vendor's API (batches, files).

        The seam `ashford_llm.batch` uses: the same client, credentials, single 401 refresh
        and typed errors as a call. The dialect's headers carry the key, `headers` are added
        on top; a multipart upload (`files`) drops the JSON content type. A non-2xx answer
        raises the dialect's error with its context.
        """
        key = await self._key(refresh=False)
        for attempt in range(2):
            sent = self.dialect.headers(key)
            if files is not None:
                sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
            sent.update(headers or {})
            with map_httpx_errors(self.dialect.name):
                response = await self._client.request(
                    method,
                    url,
                    content=content,
                    files=files,
                    data=data,
                    headers=sent,
                    timeout=self._timeout,
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

    async def aclose(self) -> None:
        """Closes the HTTP client if this provider created it."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.dialect.model!r})"
