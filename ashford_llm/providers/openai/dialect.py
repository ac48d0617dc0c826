"""OpenAI Chat Completions over httpx + msgspec, also for OpenAI-compatible servers.

`base_url` (or OPENAI_BASE_URL, including `/v1`) points the provider at any server speaking
the same API: vLLM, Ollama, llama.cpp server, gateways. `OpenAIDialect` writes requests;
answers are read in `decode`, errors in `errors`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.dialect import deep_merge, read_sse
from ashford_llm.providers.openai.content import MediaTally, check_payload, encode_parts
from ashford_llm.providers.openai.decode import OpenAIStreamDecoder, parse_completion
from ashford_llm.providers.openai.errors import error_from_body, error_in_body
from ashford_llm.providers.openai.tools import (
    encode_tool_choice,
    encode_tools,
    tool_calls,
    tool_messages,
)
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.types import CompletionRequest, CompletionResponse, ToolCall

__all__ = ["OpenAIDialect", "OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_ENCODER = msgspec.json.Encoder()
# OpenAI accepts schema names of 1-64 letters, digits, underscores and dashes.
_SCHEMA_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def _schema_name(schema: dict[str, Any]) -> str:
    """Derives the json_schema name OpenAI requires: the schema's title, else "output"."""
    title = schema.get("title")
    name = _SCHEMA_NAME_BAD.sub("_", title)[:64] if isinstance(title, str) else ""
    return name or "output"


class OpenAIDialect:
    """The Chat Completions wire format for one model.

    Args:
        config: the model and its default options.
        base_url: the API root including `/v1`.
        name: the provider name responses report ("openai", or a compatible vendor's).
        otel_provider_name: `gen_ai.provider.name`; default `name`.
        organization: the OpenAI-Organization header, if any.
        project: the OpenAI-Project header, if any.
        max_tokens_field: "max_completion_tokens" (OpenAI's current models) or "max_tokens"
            (older OpenAI-compatible servers).
        system_role: "system", or "developer" for OpenAI reasoning models that want it.
        cache_breakpoints: send each CachePoint as an explicit `prompt_cache_breakpoint` on
            the part before it (GPT-5.6 and later); by default CachePoints are ignored and
            OpenAI caches automatically.
        json_schema: False for servers without `response_format: json_schema`: a schema is
            then asked for as `json_object` (JSON mode), and JsonValidation checks it.
        strict_schema: send `"strict": true` with a JSON schema (some servers reject it).
        stream_usage: ask for the usage chunk on streams (`stream_options.include_usage`).
        seed_field: the body field `seed` goes in (Mistral: `random_seed`).
        extra_headers: headers added to every request (never a credential).

    Compatible vendors' differences are data: `providers.profiles.Profile` holds these
    options per vendor, and `OpenAICompatibleProvider` passes them here.

    Reasoning: `effort` is sent as `reasoning_effort` (OpenAI answers a value the model
    does not take with a 400); `budget_tokens` has no Chat Completions field and is not
    sent; no reasoning text comes back, only `reasoning_tokens`.
    """

    request_id_header: str | None = "x-request-id"
    stream_content_type = "text/event-stream"

    def __init__(
        self,
        config: ModelConfig,
        *,
        base_url: str = DEFAULT_BASE_URL,
        name: str = "openai",
        otel_provider_name: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
        cache_breakpoints: bool = False,
        json_schema: bool = True,
        strict_schema: bool = True,
        stream_usage: bool = True,
        seed_field: str = "seed",
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_tokens_field not in ("max_completion_tokens", "max_tokens"):
            raise ValueError(
                "max_tokens_field must be 'max_completion_tokens' or 'max_tokens', "
                f"got {max_tokens_field!r}"
            )
        if system_role not in ("system", "developer"):
            raise ValueError(f"system_role must be 'system' or 'developer', got {system_role!r}")
        if not isinstance(cache_breakpoints, bool):
            raise TypeError(f"cache_breakpoints must be a bool, got {cache_breakpoints!r}")
        self.config = config
        self.model = config.model
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.otel_provider_name = otel_provider_name or name
        self.max_tokens_field = max_tokens_field
        self.system_role = system_role
        self.cache_breakpoints = cache_breakpoints
        self.json_schema = json_schema
        self.strict_schema = strict_schema
        self.stream_usage = stream_usage
        self.seed_field = seed_field
        self._url = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        headers.update(extra_headers or {})
        self._static_headers = headers

    def url(self, *, stream: bool) -> str:
        """Returns the Chat Completions URL (the same for streams)."""
        return self._url

    def headers(self, key: str) -> dict[str, str]:
        """Returns the headers with the bearer key."""
        headers = self._static_headers.copy()
        headers["Authorization"] = f"Bearer {key}"
        return headers

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the Chat Completions body; refuses what OpenAI would, before sending.

        A text message stays `"content": "..."`; parts are encoded by `content`, which
        checks OpenAI's media types and limits. A system message takes the configured role.
        Tools, the tool choice, calls and results are encoded by `tools`.
        """
        config = self.config
        system_role = self.system_role
        messages: list[dict[str, Any]] = []
        tally: MediaTally | None = None
        for index, message in enumerate(request.messages):
            role = system_role if message.role == "system" else message.role
            content = message.content
            if isinstance(content, str):
                messages.append({"role": role, "content": content})
                continue
            if role == "tool":
                messages.extend(tool_messages(content))
                continue
            if tally is None:
                tally = MediaTally()
            parts = encode_parts(message, content, index, tally, breakpoints=self.cache_breakpoints)
            if role == "assistant" and any(type(part) is ToolCall for part in content):
                # Assistant content is optional with tool_calls: null when the turn had no text.
                calls = tool_calls(content)
                messages.append({"role": role, "content": parts or None, "tool_calls": calls})
                continue
            messages.append({"role": role, "content": parts})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            self.max_tokens_field: request.max_tokens or config.max_output_tokens,
        }
        temperature = request.temperature if request.temperature is not None else config.temperature
        if temperature is not None:
            body["temperature"] = temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.seed is not None:
            body[self.seed_field] = request.seed
        reasoning = request.reasoning
        if reasoning is not None:
            # max_completion_tokens caps visible plus reasoning tokens; budget_tokens has no
            # Chat Completions field, and no reasoning text ever comes back.
            if self.max_tokens_field == "max_tokens":
                raise InvalidRequestError(
                    "reasoning needs max_completion_tokens: reasoning models reject "
                    "max_tokens; build the provider with "
                    'max_tokens_field="max_completion_tokens" (or give its profile that field)'
                )
            if reasoning.effort is not None:
                body["reasoning_effort"] = reasoning.effort
        if request.json_schema is not None and self.json_schema:
            json_schema: dict[str, Any] = {
                "name": _schema_name(request.json_schema),
                "schema": request.json_schema,
            }
            if self.strict_schema:
                json_schema["strict"] = True
            body["response_format"] = {"type": "json_schema", "json_schema": json_schema}
        elif request.json_mode or request.json_schema is not None:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = encode_tools(request.tools)
            if request.tool_choice != "auto":
                body["tool_choice"] = encode_tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if stream:
            body["stream"] = True
            if self.stream_usage:
                body["stream_options"] = {"include_usage": True}
        if request.vendor_options:
            deep_merge(body, request.vendor_options)
        encoded = _ENCODER.encode(body)
        if tally is not None and (tally.images or tally.file_bytes):
            check_payload(encoded)
        return encoded

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a completion; a refusal, a filtered or an empty answer raises."""
        return parse_completion(
            body, model=self.model, provider=self.name, latency_ms=latency_ms, request_id=request_id
        )

    def stream_decoder(self) -> OpenAIStreamDecoder:
        """Returns a decoder for one stream."""
        return OpenAIStreamDecoder(self.model, self.name)

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the Server-Sent Events of a stream."""
        return read_sse(response, error_in_body)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping OpenAI's message, type and code."""
        return error_from_body(status, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds an `{"error": ...}` object in a body that should have been an answer."""
        return error_in_body(body)


class OpenAIProvider(HTTPProvider):
    """Calls OpenAI's Chat Completions API, or any server that speaks it.

    Args:
        config: the model and its default options.
        api_key: the key; default OPENAI_API_KEY.
        credentials: an object with `async get()`/`async refresh()` instead of a fixed key.
        base_url: the API base including `/v1`; default OPENAI_BASE_URL, else OpenAI's.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient` (not closed by `aclose`).
        timeout: seconds or an `httpx.Timeout` per HTTP exchange.
        organization: the OpenAI-Organization header; default OPENAI_ORG_ID.
        project: the OpenAI-Project header; default OPENAI_PROJECT_ID.
        max_tokens_field: "max_completion_tokens" (OpenAI's current models) or "max_tokens"
            (older OpenAI-compatible servers).
        system_role: "system", or "developer" for OpenAI reasoning models that want it.
        cache_breakpoints: send CachePoints as explicit `prompt_cache_breakpoint`s (GPT-5.6
            and later); by default they are ignored and OpenAI caches automatically.
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
        organization: str | None = None,
        project: str | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
        cache_breakpoints: bool = False,
    ) -> None:
        check_config(config, "openai")
        for option, value in (("organization", organization), ("project", project)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{option} must be a non-empty string, got {value!r}")
        dialect = OpenAIDialect(
            config,
            base_url=resolve_base_url(base_url, "OPENAI_BASE_URL", DEFAULT_BASE_URL),
            organization=organization or os.environ.get("OPENAI_ORG_ID") or None,
            project=project or os.environ.get("OPENAI_PROJECT_ID") or None,
            max_tokens_field=max_tokens_field,
            system_role=system_role,
            cache_breakpoints=cache_breakpoints,
        )
        super().__init__(
            dialect,
            env_keys=("OPENAI_API_KEY",),
            api_key=api_key,
            credentials=credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )
