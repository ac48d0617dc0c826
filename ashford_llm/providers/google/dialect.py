"""GoogleProvider: the Gemini API (`generateContent`, `streamGenerateContent`) with an API key.

The key goes in the `x-goog-api-key` header, never in the URL (URLs end up in logs). Like the
official SDK, GOOGLE_API_KEY wins over GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL overrides the
root URL. The API version is the `api_version` option (default "v1beta", where every model and
alias exists; the SDK's 3.x default is "v1").

System messages become `systemInstruction`; assistant turns take the role `model`; consecutive
messages of one role are sent as one turn of parts. `json_mode` sets `responseMimeType` to JSON,
a `json_schema` adds `responseJsonSchema`.

Parts are encoded in `content`: images and documents as `inlineData` or `fileData` (media
types and inline size limits checked before sending), this provider's own ReasoningParts as
thought parts and thought signatures, other vendors' dropped, CachePoints ignored (Gemini caches
implicitly). `reasoning` becomes `thinkingConfig`: a thinking budget (Gemini 1.x/2.x, or
`budget_tokens` on any model) or a thinking level (Gemini 3 and later, and aliases), per the
tables in `content`.

Tool calling (`content`): tools as `functionDeclarations` with their JSON Schema in
`parametersJsonSchema`, `tool_choice` as `toolConfig.functionCallingConfig`; Gemini has no
parallel-calls flag, so `parallel_tool_calls` sends nothing. An assistant turn's ToolCalls go
back as `functionCall` parts with their thought signatures; `tool` messages' results as
`functionResponse` parts in a user turn (consecutive results, being one role, share one turn).

A bad key is a 400 with reason API_KEY_INVALID, not a 401: it is raised as a fatal
InvalidRequestError (`error_code="API_KEY_INVALID"`) without refreshing the credential, since
Gemini keys do not expire and retrying cannot help. A 401 (not what API keys get) still
refreshes once through the shared base.

Streams have no terminal event: a stream is complete when a chunk carried a finishReason and the
body ended. Gemini may put its error object in the stream body as plain JSON rather than as an
SSE event: the shared SSE reader hands such lines to this dialect at the end, which raises the
error they hold (or a ResponseDecodeError for other stray lines). `GoogleDialect` writes
requests; answers and chunks are read in `decode`, errors in `errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError, ResponseDecodeError
from ashford_llm.providers._http import AsyncHTTPClient, excerpt
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.dialect import deep_merge, read_sse
from ashford_llm.providers.google.content import (
    check_system,
    encode_parts,
    encode_tools,
    thinking_config,
    uses_thinking_levels,
)
from ashford_llm.providers.google.decode import GoogleStreamDecoder, parse_response
from ashford_llm.providers.google.errors import error_in_body, parse_error
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.types import CompletionRequest, CompletionResponse

__all__ = ["GoogleDialect", "GoogleProvider"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_ENCODER = msgspec.json.Encoder()
_ROLES = {"user": "user", "assistant": "model", "tool": "user"}


def _stray_lines(body: bytes | str) -> LLMError:
    """Returns the error a stream's non-SSE lines hold, or a decode error naming them."""
    return error_in_body(body) or ResponseDecodeError(
        f"unexpected lines in the event stream: {excerpt(body)!r}"
    )


class GoogleDialect:
    """The Gemini generateContent wire format for one model.

    Args:
        config: the model (with or without the "models/" prefix) and its default options.
        base_url: the root URL without the version.
        name: the provider name responses report.
        api_version: the version path segment, e.g. "v1beta" or "v1".
    """

    request_id_header: str | None = None  # Gemini sends none
    stream_content_type = "text/event-stream"
    otel_provider_name = "gcp.gemini"

    def __init__(
        self,
        config: ModelConfig,
        *,
        base_url: str = DEFAULT_BASE_URL,
        name: str = "google",
        api_version: str = "v1beta",
    ) -> None:
        if not isinstance(api_version, str) or not api_version.strip("/ "):
            raise ValueError(f"api_version must be a non-empty string, got {api_version!r}")
        model = config.model.strip()
        if model in ("", "models/"):
            raise ValueError("config.model must name a Gemini model")
        self.config = config
        self.model = config.model
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.api_version = api_version.strip("/ ")
        path = model if "/" in model else f"models/{model}"
        self._thinking_levels = uses_thinking_levels(path)
        root = f"{self.base_url}/{self.api_version}/{path}"
        self._complete_url = f"{root}:generateContent"
        self._stream_url = f"{root}:streamGenerateContent?alt=sse"

    def url(self, *, stream: bool) -> str:
        """Returns the generateContent URL, or the SSE streamGenerateContent one."""
        return self._stream_url if stream else self._complete_url

    def headers(self, key: str) -> dict[str, str]:
        """Returns the JSON and key headers (the key never goes in the URL)."""
        return {"content-type": "application/json", "x-goog-api-key": key}

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes contents, systemInstruction and generationConfig."""
        system: list[dict[str, str]] = []
        contents: list[dict[str, Any]] = []
        inline = [0]  # base64 bytes sent inline so far, shared across messages
        names: dict[str, str] = {}  # call id -> function name, for the results
        for message in request.messages:
            content = message.content
            if message.role == "system":
                if not isinstance(content, str):
                    check_system(content)
                system.append({"text": message.text})
                continue
            if type(content) is str:
                parts: list[dict[str, Any]] = [{"text": content}]
            else:
                parts = encode_parts(message, provider=self.name, inline=inline, names=names)
                if not parts:
                    continue
            role = _ROLES[message.role]
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        if not contents:
            raise InvalidRequestError(
                "Gemini needs at least one user or assistant message besides system ones"
            )
        config = self.config
        generation: dict[str, Any] = {
            "maxOutputTokens": request.max_tokens or config.max_output_tokens
        }
        temperature = request.temperature if request.temperature is not None else config.temperature
        if temperature is not None:
            generation["temperature"] = temperature
        if request.top_p is not None:
            generation["topP"] = request.top_p
        if request.seed is not None:
            generation["seed"] = request.seed
        if request.stop:
            generation["stopSequences"] = list(request.stop)
        if request.json_mode or request.json_schema is not None:
            generation["responseMimeType"] = "application/json"
        if request.json_schema is not None:
            generation["responseJsonSchema"] = request.json_schema
        if request.reasoning is not None:
            thinking = thinking_config(request.reasoning, levels=self._thinking_levels)
            if thinking:
                generation["thinkingConfig"] = thinking
        body: dict[str, Any] = {"contents": contents, "generationConfig": generation}
        if system:
            body["systemInstruction"] = {"parts": system}
        if request.tools:
            body.update(encode_tools(request.tools, request.tool_choice))
        if request.vendor_options:
            deep_merge(body, request.vendor_options)
        return _ENCODER.encode(body)

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a GenerateContentResponse into the normalised response."""
        return parse_response(
            body, provider=self.name, model=self.model, latency_ms=latency_ms, request_id=request_id
        )

    def stream_decoder(self) -> GoogleStreamDecoder:
        """Returns a decoder for one stream."""
        return GoogleStreamDecoder(self.model, self.name)

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the Server-Sent Events of a stream; stray lines end it with their error."""
        return read_sse(response, _stray_lines)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping Gemini's message, status and reason."""
        return parse_error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds a Gemini error object in a body that should have been an answer."""
        return error_in_body(body)


class GoogleProvider(HTTPProvider):
    """Calls Gemini through the Gemini Developer API, whole or streamed.

    Args:
        config: the model (with or without the "models/" prefix) and its default options.
        api_key: the key; otherwise GOOGLE_API_KEY, then GEMINI_API_KEY, is read.
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the root URL without the version; otherwise GOOGLE_GEMINI_BASE_URL or the
            public API.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient`, which the provider
            then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        api_version: the version path segment, e.g. "v1beta" (default) or "v1".
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        api_version: str = "v1beta",
    ) -> None:
        check_config(config, "google", "gemini")
        dialect = GoogleDialect(
            config,
            base_url=resolve_base_url(base_url, "GOOGLE_GEMINI_BASE_URL", DEFAULT_BASE_URL),
            api_version=api_version,
        )
        super().__init__(
            dialect,
            env_keys=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
            api_key=api_key,
            credentials=credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )
