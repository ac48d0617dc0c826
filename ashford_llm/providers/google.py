"""GoogleProvider: the Gemini API (`generateContent`, `streamGenerateContent`) with an API key.

The key goes in the `x-goog-api-key` header, never in the URL (URLs end up in logs). Like the
official SDK, GOOGLE_API_KEY wins over GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL overrides the
root URL. The API version is the `api_version` option (default "v1beta", where every model and
alias exists; the SDK's 3.x default is "v1").

System messages become `systemInstruction`; assistant turns take the role `model`; consecutive
messages of one role are sent as one turn of text parts. `json_mode` sets `responseMimeType`
to JSON, a `json_schema` adds `responseJsonSchema`.

A bad key is a 400 with reason API_KEY_INVALID, not a 401: it is raised as a fatal
InvalidRequestError (`error_code="API_KEY_INVALID"`) without refreshing the credential, since
Gemini keys do not expire and retrying cannot help. A 401 (not what API keys get) still
refreshes once through the shared base.

Streams have no terminal event: a stream is complete when a chunk carried a finishReason and the
body ended. Gemini may put its error object in the stream body as plain JSON rather than as an
SSE event, so this provider reads the event stream itself and keeps any non-SSE lines to parse
as an error at the end. Answers and chunks are read in `_google_wire`, errors in
`_google_errors`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError, ResponseDecodeError
from ashford_llm.providers._base import HTTPProvider, add_usage_so_far
from ashford_llm.providers._google_errors import error_in_body, parse_error
from ashford_llm.providers._google_wire import GoogleStreamParser, parse_response
from ashford_llm.providers._http import excerpt, map_httpx_errors
from ashford_llm.providers.credentials import Credentials
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = ["GoogleProvider"]

_ENCODER = msgspec.json.Encoder()
_ROLES = {"user": "user", "assistant": "model"}
_SSE_FIELDS = frozenset(("", "event", "id", "retry"))  # "" is a comment line


async def _sse_data(lines: AsyncIterator[str], stray: list[str]) -> AsyncIterator[str]:
    """Yields each SSE event's data, multi-line data joined; collects lines that are not SSE."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        elif field not in _SSE_FIELDS:
            stray.append(line)
    if data:
        yield "\n".join(data)


class GoogleProvider(HTTPProvider):
    """Calls Gemini through the Gemini Developer API, whole or streamed.

    Args:
        config: the model (with or without the "models/" prefix) and its default options.
        api_key: the key; otherwise GOOGLE_API_KEY, then GEMINI_API_KEY, is read.
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the root URL without the version; otherwise GOOGLE_GEMINI_BASE_URL or the
            public API.
        http_client: a shared `httpx.AsyncClient`, which the provider then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        api_version: the version path segment, e.g. "v1beta" (default) or "v1".
    """

    provider_name: ClassVar[str] = "google"
    env_keys: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    env_base_url: ClassVar[str | None] = "GOOGLE_GEMINI_BASE_URL"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    request_id_header: ClassVar[str | None] = None  # Gemini sends none

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        api_version: str = "v1beta",
    ) -> None:
        if not isinstance(api_version, str) or not api_version.strip("/ "):
            raise ValueError(f"api_version must be a non-empty string, got {api_version!r}")
        model = config.model.strip() if isinstance(config, ModelConfig) else ""
        if isinstance(config, ModelConfig) and model in ("", "models/"):
            raise ValueError("config.model must name a Gemini model")
        super().__init__(
            config,
            api_key=api_key,
            credentials=credentials,
            base_url=base_url,
            http_client=http_client,
            timeout=timeout,
        )
        path = model if "/" in model else f"models/{model}"
        self.api_version = api_version.strip("/ ")
        root = f"{self.base_url}/{self.api_version}/{path}"
        self._complete_url = f"{root}:generateContent"
        self._stream_url = f"{root}:streamGenerateContent?alt=sse"

    def _url(self, stream: bool) -> str:
        """Returns the generateContent URL, or the SSE streamGenerateContent one."""
        return self._stream_url if stream else self._complete_url

    def _headers(self, key: str) -> dict[str, str]:
        """Returns the JSON and key headers (the key never goes in the URL)."""
        return {"content-type": "application/json", "x-goog-api-key": key.strip()}

    def _body(self, request: CompletionRequest, stream: bool) -> bytes:
        """Encodes contents, systemInstruction and generationConfig."""
        system: list[dict[str, str]] = []
        contents: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                system.append({"text": message.content})
                continue
            role = _ROLES[message.role]
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].append({"text": message.content})
            else:
                contents.append({"role": role, "parts": [{"text": message.content}]})
        if not contents:
            raise InvalidRequestError(
                "Gemini needs at least one user or assistant message besides system ones",
                provider=self.provider_name,
            )
        config: dict[str, Any] = {
            "maxOutputTokens": request.max_tokens or self.config.max_output_tokens
        }
        temperature = (
            request.temperature if request.temperature is not None else self.config.temperature
        )
        if temperature is not None:
            config["temperature"] = temperature
        if request.stop:
            config["stopSequences"] = list(request.stop)
        if request.json_mode or request.json_schema is not None:
            config["responseMimeType"] = "application/json"
        if request.json_schema is not None:
            config["responseJsonSchema"] = request.json_schema
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system:
            body["systemInstruction"] = {"parts": system}
        return _ENCODER.encode(body)

    def _parse_response(
        self, body: bytes, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a GenerateContentResponse into the normalised response."""
        try:
            return parse_response(
                body,
                provider=self.provider_name,
                default_model=self.config.model,
                latency_ms=latency_ms,
                request_id=request_id,
            )
        except LLMError as error:
            error.provider = self.provider_name
            raise

    def _stream_parser(self) -> GoogleStreamParser:
        """Returns a parser for one stream."""
        return GoogleStreamParser(self.config.model, self.provider_name)

    def _error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping Gemini's message, status and reason."""
        return parse_error(status, headers, body)

    def _error_in_body(self, body: bytes) -> LLMError | None:
        """Finds a Gemini error object in a 200 body that should have been a stream."""
        return error_in_body(body)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Streams the answer: TextDeltas as they arrive, then one StreamEnd at the body's end."""
        body = self._body(request, stream=True)
        started = time.perf_counter()
        parser = self._stream_parser()
        stray: list[str] = []
        with map_httpx_errors(self.provider_name):
            async with self._open_stream(body) as response:
                try:
                    async for data in _sse_data(response.aiter_lines(), stray):
                        text = parser.feed("", data)
                        if text:
                            yield TextDelta(text)
                    if stray:
                        raise error_in_body("\n".join(stray)) or ResponseDecodeError(
                            f"unexpected lines in the event stream: {excerpt(' '.join(stray))!r}"
                        )
                    if not parser.complete:
                        raise ResponseDecodeError(
                            "the stream ended before a chunk with a finishReason"
                        )
                except LLMError as error:
                    error.provider = self.provider_name
                    add_usage_so_far(error, parser)
                    raise
        latency_ms = (time.perf_counter() - started) * 1000.0
        yield StreamEnd(parser.response(latency_ms, None))
