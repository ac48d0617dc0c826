"""AnthropicProvider: the Anthropic Messages API (`POST /v1/messages`) over httpx and msgspec.

System messages go to the top-level `system` field, joined by blank lines (a list of text
blocks when one carries a cache breakpoint); consecutive messages of one role are sent as one
turn of blocks, as the API documents it merges them anyway. Text-only messages stay strings;
parts (images, documents, thinking, cache points) are written in `content`.

Reasoning: `request.reasoning` becomes `thinking` and `output_config.effort` per model family
(`thinking`). With thinking on, Anthropic refuses a temperature other than 1 and a top_p below
0.95: a request that sets one is an InvalidRequestError; a config temperature is left out.

JSON output: a `json_schema` uses native structured outputs (`output_config.format`); objects in
the schema that leave `additionalProperties` unset get `false`, which Anthropic requires. Native
structured outputs are generally available from Claude 4.5 on; older models (Claude 2 and 3.x,
Sonnet 4.0, Opus 4.0 and 4.1, whose support was a beta with another request shape), named by
alias or dated id, get the schema as a system instruction instead. Plain `json_mode` is always
a system instruction: Anthropic has no schema-free JSON mode (an open object schema is
rejected), and assistant prefill is rejected by Claude 4.6 and later, so this provider never
prefills.

Tools: each Tool is `{name, description, input_schema, strict}` (`strict` only when set, with
`additionalProperties: false` filled in as for structured outputs); `tool_choice` "auto",
"none", "required" and a tool's name are `{"type": "auto" | "none" | "any" | "tool"}`, and
`parallel_tool_calls=False` is `disable_parallel_tool_use` in it. Anthropic rejects a forced
choice ("required" or a name) with manual thinking (`thinking.type: "enabled"`), so that is an
InvalidRequestError before anything is sent.

`AnthropicDialect` writes requests; answers are read in `decode`, errors in `errors`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.anthropic.content import MAX_REQUEST_BYTES, encode_messages
from ashford_llm.providers.anthropic.decode import AnthropicStreamDecoder, parse_message
from ashford_llm.providers.anthropic.errors import error_in_body, parse_error
from ashford_llm.providers.anthropic.thinking import thinking_for, thinking_support
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.dialect import deep_merge, read_sse
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.types import CompletionRequest, CompletionResponse, Tool

__all__ = ["AnthropicDialect", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"

_DEFAULT_VERSION = "2023-06-01"
_SAMPLING_FREE_VERSION = "2026-10-21"

_ENCODER = msgspec.json.Encoder()
_JSON_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it "
    "and no Markdown code fences."
)
# The version in a Claude model id, alias or dated: claude-3-5-haiku-20241022 is 3.5,
# claude-sonnet-4-20250514 is 4 (the date is not a minor version), claude-opus-4-1 is 4.1.
_CLAUDE_VERSION = re.compile(r"claude-(?:[a-z]+-)?(\d+)(?:[.-](\d{1,2})(?![0-9]))?")
# The first version with generally available structured outputs (`output_config.format`).
_STRUCTURED_OUTPUTS_SINCE = (4, 5)


def _supports_structured_outputs(model: str) -> bool:
    """Tells whether a Claude model takes native structured outputs (Claude 4.5 and later).

    An id that names no Claude version (a proxy's own model name) is taken as current.
    """
    match = _CLAUDE_VERSION.match(model)
    if match is None:
        return True
    version = (int(match.group(1)), int(match.group(2) or 0))
    return version >= _STRUCTURED_OUTPUTS_SINCE


def _closed_schema(schema: Any) -> Any:
    """Returns a copy of a JSON Schema whose objects set `additionalProperties` (false if unset)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: _closed_schema(sub) for name, sub in out[key].items()}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [_closed_schema(sub) for sub in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = _closed_schema(out["items"])
    kind = out.get("type")
    if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and (
        "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out


def _tool(tool: Tool) -> dict[str, Any]:
    """Returns a tool definition: name, description when given, schema, strict when set."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["input_schema"] = _closed_schema(tool.schema)
        out["strict"] = True
    else:
        out["input_schema"] = tool.schema
    return out


def _tool_choice(choice: str, parallel: bool | None) -> dict[str, Any] | None:
    """Returns the tool_choice object, or None when Anthropic's default (auto) says it all."""
    if choice == "none":
        return {"type": "none"}
    if choice == "auto":
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    else:
        out = {"type": "tool", "name": choice}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    elif choice == "auto":
        return None
    return out


class AnthropicDialect:
    """The Messages wire format for one model.

    Args:
        config: the model and its default options.
        base_url: the API root without `/v1`.
        name: the provider name responses report.
        auth_header: "x-api-key" or "bearer" (`Authorization`).
        api_version: the `anthropic-version` header; under "2026-10-21" no temperature is sent.
        structured_outputs: use native structured outputs for `json_schema`; None decides by
            the model name.
    """

    request_id_header: str | None = "request-id"
    stream_content_type = "text/event-stream"
    otel_provider_name = "anthropic"

    def __init__(
        self,
        config: ModelConfig,
        *,
        base_url: str = DEFAULT_BASE_URL,
        name: str = "anthropic",
        auth_header: Literal["x-api-key", "bearer"] = "x-api-key",
        api_version: str = _DEFAULT_VERSION,
        structured_outputs: bool | None = None,
    ) -> None:
        if auth_header not in ("x-api-key", "bearer"):
            raise ValueError(f"auth_header must be 'x-api-key' or 'bearer', got {auth_header!r}")
        if not isinstance(api_version, str) or not api_version.strip():
            raise ValueError(f"api_version must be a non-empty string, got {api_version!r}")
        if structured_outputs is not None and not isinstance(structured_outputs, bool):
            raise TypeError("structured_outputs must be True, False or None")
        temperature = config.temperature
        if api_version != _SAMPLING_FREE_VERSION and temperature is not None and temperature > 1:
            raise ValueError(f"Anthropic accepts temperature 0 to 1, got {temperature}")
        self.config = config
        self.model = config.model
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.auth_header = auth_header
        self.api_version = api_version
        self.structured_outputs = (
            _supports_structured_outputs(config.model)
            if structured_outputs is None
            else structured_outputs
        )
        self._messages_url = f"{self.base_url}/v1/messages"
        self._sends_temperature = api_version != _SAMPLING_FREE_VERSION
        self._thinking = thinking_support(config.model)

    def url(self, *, stream: bool) -> str:
        """Returns the Messages URL (streaming is switched on in the body)."""
        return self._messages_url

    def headers(self, key: str) -> dict[str, str]:
        """Returns the JSON, version and auth headers."""
        headers = {"content-type": "application/json", "anthropic-version": self.api_version}
        if self.auth_header == "bearer":
            headers["authorization"] = f"Bearer {key}"
        else:
            headers["x-api-key"] = key
        return headers

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the Messages request: system on top, turns, limits, JSON output, stream."""
        system: list[str] = []
        turns: list[dict[str, Any]] = []
        system_blocks: list[dict[str, Any]] | None = None
        for message in request.messages:
            text = message.content
            if type(text) is not str:
                encoded = encode_messages(request.messages, provider=self.name)
                turns = encoded.turns
                if encoded.system_cached:
                    system_blocks = encoded.system
                    system = []
                else:
                    system = [block["text"] for block in encoded.system]
                break
            if message.role == "system":
                system.append(text)
            elif turns and turns[-1]["role"] == message.role:
                last = turns[-1]
                if isinstance(last["content"], str):
                    last["content"] = [{"type": "text", "text": last["content"]}]
                last["content"].append({"type": "text", "text": text})
            else:
                turns.append({"role": message.role, "content": text})
        if not turns:
            raise InvalidRequestError(
                "Anthropic needs at least one user or assistant message besides system ones"
            )
        config = self.config
        max_tokens = request.max_tokens or config.max_output_tokens
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": turns,
        }
        thinking: dict[str, Any] | None = None
        effort: str | None = None
        if request.reasoning is not None:
            thinking, effort = thinking_for(
                request.reasoning, self._thinking, model=self.model, max_tokens=max_tokens
            )
        if thinking is not None and thinking["type"] != "disabled":
            self._check_sampling_with_thinking(request)
            if request.top_p is not None and self._sends_temperature:
                body["top_p"] = request.top_p
        else:
            temperature = (
                request.temperature if request.temperature is not None else config.temperature
            )
            if temperature is not None and self._sends_temperature:
                if temperature > 1:
                    raise InvalidRequestError(
                        f"Anthropic accepts temperature 0 to 1, got {temperature}"
                    )
                body["temperature"] = temperature
            if request.top_p is not None and self._sends_temperature:
                body["top_p"] = request.top_p
        if thinking is not None:
            body["thinking"] = thinking
        if request.tools:
            self._add_tools(body, request, thinking)
        output_config: dict[str, Any] = {}
        if effort is not None:
            output_config["effort"] = effort
        if request.json_schema is not None and self.structured_outputs:
            schema = _closed_schema(request.json_schema)
            output_config["format"] = {"type": "json_schema", "schema": schema}
        elif request.json_schema is not None:
            schema_text = _ENCODER.encode(request.json_schema).decode()
            system.append(f"{_JSON_INSTRUCTION} It must follow this JSON Schema: {schema_text}")
        elif request.json_mode:
            system.append(_JSON_INSTRUCTION)
        if output_config:
            body["output_config"] = output_config
        if system_blocks is not None:
            body["system"] = system_blocks + [{"type": "text", "text": t} for t in system]
        elif system:
            body["system"] = "\n\n".join(system)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        if request.vendor_options:
            deep_merge(body, request.vendor_options)
        encoded_body = _ENCODER.encode(body)
        if len(encoded_body) > MAX_REQUEST_BYTES:
            raise InvalidRequestError(
                f"the request is {len(encoded_body)} bytes, over Anthropic's 32 MB limit "
                f"({MAX_REQUEST_BYTES} bytes)"
            )
        return encoded_body

    @staticmethod
    def _add_tools(
        body: dict[str, Any], request: CompletionRequest, thinking: dict[str, Any] | None
    ) -> None:
        """Writes `tools` and `tool_choice`, refusing a forced choice with manual thinking."""
        choice = request.tool_choice
        if (
            choice not in ("auto", "none")
            and thinking is not None
            and thinking["type"] == "enabled"
        ):
            raise InvalidRequestError(
                f"Anthropic rejects a forced tool_choice ({choice!r}) with thinking on a "
                "budget: use tool_choice 'auto', or turn thinking off"
            )
        body["tools"] = [_tool(tool) for tool in request.tools]
        tool_choice = _tool_choice(choice, request.parallel_tool_calls)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice

    @staticmethod
    def _check_sampling_with_thinking(request: CompletionRequest) -> None:
        """Refuses what Anthropic refuses with thinking on: temperature other than 1, low top_p.

        A temperature from the ModelConfig is a default, so it is left out rather than refused.
        """
        if request.temperature is not None and request.temperature != 1:
            raise InvalidRequestError(
                "Anthropic takes no temperature other than 1 with thinking on, got "
                f"{request.temperature}: leave it unset or turn thinking off"
            )
        if request.top_p is not None and request.top_p < 0.95:
            raise InvalidRequestError(
                f"Anthropic takes top_p from 0.95 to 1 with thinking on, got {request.top_p}"
            )

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a Message into the normalised response."""
        return parse_message(
            body, provider=self.name, model=self.model, latency_ms=latency_ms, request_id=request_id
        )

    def stream_decoder(self) -> AnthropicStreamDecoder:
        """Returns a decoder for one stream."""
        return AnthropicStreamDecoder(self.model, self.name)

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the Server-Sent Events of a stream."""
        return read_sse(response, error_in_body)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping Anthropic's message, type and code."""
        return parse_error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds an Anthropic error object in a body that should have been an answer."""
        return error_in_body(body)


class AnthropicProvider(HTTPProvider):
    """Calls Claude through the Anthropic Messages API, whole or streamed.

    Args:
        config: the model and its default options; `temperature` must be at most 1.
        api_key: the key; otherwise ANTHROPIC_API_KEY is read.
        credentials: an object with `async get()` and `async refresh()` returning keys.
        base_url: the API base without `/v1`; otherwise ANTHROPIC_BASE_URL or the public API.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient`, which the provider
            then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        auth_header: "x-api-key" (the long-documented form) or "bearer" (`Authorization`).
        api_version: the `anthropic-version` header. Under "2026-10-21" the API rejects
            temperature, so the provider never sends one with that version.
        structured_outputs: use native structured outputs for `json_schema`; None decides by
            the model name (off for models released before the feature).
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
        auth_header: Literal["x-api-key", "bearer"] = "x-api-key",
        api_version: str = _DEFAULT_VERSION,
        structured_outputs: bool | None = None,
    ) -> None:
        check_config(config, "anthropic")
        dialect = AnthropicDialect(
            config,
            base_url=resolve_base_url(base_url, "ANTHROPIC_BASE_URL", DEFAULT_BASE_URL),
            auth_header=auth_header,
            api_version=api_version,
            structured_outputs=structured_outputs,
        )
        super().__init__(
            dialect,
            env_keys=("ANTHROPIC_API_KEY",),
            api_key=api_key,
            credentials=credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )
