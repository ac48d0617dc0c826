"""GoogleProvider: the Gemini API (`generateContent`, `streamGenerateContent`) with an API key.

The key goes in the `x-goog-api-key` header, never in the URL (URLs end up in logs). Like the
official SDK, GOOGLE_API_KEY wins over GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL overrides the
root URL. The API version is the `api_version` option (default "v1beta", where every model and
alias exists; the SDK's 3.x default is "v1").

System messages become `systemInstruction`; assistant turns take the role `model`; consecutive
messages of one role are sent as one turn of parts. `json_mode` sets `responseMimeType` to JSON,
a `json_schema` adds `responseJsonSchema`.

Parts: an image or document with bytes is `inlineData` (base64), with a URL `fileData` (the
media type is required); a CachePoint is ignored (Gemini caches implicitly); this dialect's own
ReasoningParts go back as thought parts with their `thoughtSignature`, a text-less one as the
signature of the part after it (how `decode` read it), and other vendors' are dropped. Media
types and the inline size limits are checked before sending. `reasoning` becomes
`thinkingConfig`: a budget (Gemini 1.x/2.x, or `budget_tokens` on any model) or a thinking level
(Gemini 3 and later, and aliases), per the tables below.

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
from typing import Any, Final

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError, ResponseDecodeError
from ashford_llm.providers._http import excerpt
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.dialect import deep_merge, read_sse
from ashford_llm.providers.google.decode import GoogleStreamDecoder, parse_response
from ashford_llm.providers.google.errors import error_in_body, parse_error
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.types import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningConfig,
    ReasoningPart,
    TextPart,
)

__all__ = ["GoogleDialect", "GoogleProvider"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_ENCODER = msgspec.json.Encoder()
_ROLES = {"user": "user", "assistant": "model"}

MIB: Final = 1024 * 1024
INLINE_LIMIT: Final = 100 * MIB
"""Inline data per request, base64-encoded (raised from 20 MB in January 2026)."""
PDF_INLINE_LIMIT: Final = 50 * MIB
"""One PDF sent inline, in bytes."""
IMAGE_TYPES: Final = frozenset(
    ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
)
DOCUMENT_TYPES: Final = frozenset(
    (
        "application/pdf",
        "text/plain",
        "text/html",
        "text/css",
        "text/csv",
        "text/xml",
        "text/rtf",
        "text/md",
        "text/markdown",
        "text/javascript",
        "application/x-javascript",
        "text/x-python",
        "application/x-python",
    )
)
"""PDFs are read as pages; the text types as plain text (Gemini's document understanding)."""

THINKING_BUDGETS: Final[dict[str, int]] = {
    "none": 0,
    "minimal": 512,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
}
"""Effort -> thinkingBudget for the models that take a budget (Gemini 2.5 and older).

512 is Flash-Lite's smallest budget and 24576 Flash's largest; 2.5 Pro cannot turn thinking off
and answers "none" (budget 0) with a 400.
"""
THINKING_LEVELS: Final[dict[str, str]] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
}
"""Effort -> thinkingLevel for Gemini 3 and later, which cannot turn thinking off: "none" asks
for the least. A level a model does not offer (3 Pro: LOW and HIGH only) is the vendor's 400."""
_BUDGET_MODELS = ("gemini-1", "gemini-2")


def _base64_size(size: int) -> int:
    """Returns the length of `size` bytes in base64."""
    return (size + 2) // 3 * 4


def thinking_config(reasoning: ReasoningConfig, *, levels: bool) -> dict[str, Any]:
    """Maps a ReasoningConfig to Gemini's thinkingConfig (empty when it asks for nothing)."""
    config: dict[str, Any] = {}
    if reasoning.include_text:
        config["includeThoughts"] = True
    if reasoning.budget_tokens is not None:
        config["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None:
        if levels:
            config["thinkingLevel"] = THINKING_LEVELS[reasoning.effort]
        else:
            config["thinkingBudget"] = THINKING_BUDGETS[reasoning.effort]
    return config


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
        self._thinking_levels = not path.removeprefix("models/").startswith(_BUDGET_MODELS)
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
        for message in request.messages:
            content = message.content
            if message.role == "system":
                if not isinstance(content, str):
                    _check_system(content)
                system.append({"text": message.text})
                continue
            if type(content) is str:
                parts: list[dict[str, Any]] = [{"text": content}]
            else:
                parts = self._parts(message, inline)
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
        if request.vendor_options:
            deep_merge(body, request.vendor_options)
        return _ENCODER.encode(body)

    def _parts(self, message: ChatMessage, inline: list[int]) -> list[dict[str, Any]]:
        """Encodes a user or model turn's parts; `inline` counts the base64 bytes sent."""
        parts: list[dict[str, Any]] = []
        signature: str | None = None  # a text-less ReasoningPart's, for the next part
        for part in message.parts:
            if type(part) is TextPart:
                item: dict[str, Any] = {"text": part.text}
            elif type(part) is ImagePart or type(part) is DocumentPart:
                item = _media(part, inline)
            elif type(part) is ReasoningPart:
                if part.provider != self.name:
                    continue  # another vendor's thinking: Gemini cannot read it
                if not part.text:
                    if signature is not None:
                        parts.append({"text": "", "thoughtSignature": signature})
                    signature = part.signature
                    continue
                item = {"text": part.text, "thought": True}
                if part.signature is not None:
                    if signature is not None:
                        parts.append({"text": "", "thoughtSignature": signature})
                        signature = None
                    item["thoughtSignature"] = part.signature
            else:  # CachePoint: Gemini caches implicitly
                continue
            if signature is not None:
                item["thoughtSignature"] = signature
                signature = None
            parts.append(item)
        if signature is not None:
            parts.append({"text": "", "thoughtSignature": signature})
        return parts

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


def _check_system(parts: tuple[Part, ...]) -> None:
    """Refuses images and documents in a system message (Gemini takes text there only)."""
    for part in parts:
        if type(part) is ImagePart or type(part) is DocumentPart:
            raise InvalidRequestError(
                "Gemini takes only text in system instructions: put images and documents "
                "in a user message"
            )


def _media(part: ImagePart | DocumentPart, inline: list[int]) -> dict[str, Any]:
    """Encodes an image or document as inlineData or fileData, checking type and size."""
    kind = "image" if type(part) is ImagePart else "document"
    media_type = part.media_type
    if media_type is None:
        raise InvalidRequestError(
            f"Gemini needs the media type of every {kind}: give media_type "
            f"(one of {', '.join(sorted(IMAGE_TYPES))})"
        )
    accepted = IMAGE_TYPES if kind == "image" else DOCUMENT_TYPES
    if media_type not in accepted:
        raise InvalidRequestError(
            f"Gemini does not take {kind}s of type {media_type!r}; "
            f"it takes {', '.join(sorted(accepted))}"
        )
    if part.data is None:
        return {"fileData": {"mimeType": media_type, "fileUri": part.url}}
    size = len(part.data)
    if media_type == "application/pdf" and size > PDF_INLINE_LIMIT:
        raise InvalidRequestError(
            f"Gemini takes PDFs of at most {PDF_INLINE_LIMIT // MIB} MB inline, this one has "
            f"{size:,} bytes: pass it by URL instead"
        )
    inline[0] += _base64_size(size)
    if inline[0] > INLINE_LIMIT:
        raise InvalidRequestError(
            f"Gemini takes at most {INLINE_LIMIT // MIB} MB of inline data per request "
            f"(base64-encoded), this request has {inline[0]:,} bytes of it: pass large "
            "files by URL instead"
        )
    # msgspec encodes bytes as standard base64, which is what inlineData.data holds.
    return {"inlineData": {"mimeType": media_type, "data": part.data}}


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
