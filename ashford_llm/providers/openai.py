"""OpenAI Chat Completions over httpx + msgspec, also for OpenAI-compatible servers.

`base_url` (or OPENAI_BASE_URL, including `/v1`) points the provider at any server speaking
the same API: vLLM, Ollama, llama.cpp server, gateways. Such servers may send no usage at
all; the response then reports 0 input and output tokens, and only then. This module writes
requests; `_openai_wire` reads answers.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import LLMError
from ashford_llm.providers._base import HTTPProvider, StreamParser
from ashford_llm.providers._openai_wire import (
    OpenAIStream,
    error_from_body,
    error_in_body,
    parse_completion,
)
from ashford_llm.providers.credentials import Credentials
from ashford_llm.types import CompletionRequest, CompletionResponse

__all__ = ["OpenAIProvider"]

_ENCODER = msgspec.json.Encoder()
# OpenAI accepts schema names of 1-64 letters, digits, underscores and dashes.
_SCHEMA_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def _schema_name(schema: dict[str, Any]) -> str:
    """Derives the json_schema name OpenAI requires: the schema's title, else "output"."""
    title = schema.get("title")
    name = _SCHEMA_NAME_BAD.sub("_", title)[:64] if isinstance(title, str) else ""
    return name or "output"


class OpenAIProvider(HTTPProvider):
    """Calls OpenAI's Chat Completions API, or any server that speaks it.

    Args:
        config: the model and its default options.
        api_key: the key; default OPENAI_API_KEY.
        credentials: an object with `async get()`/`async refresh()` instead of a fixed key.
        base_url: the API base including `/v1`; default OPENAI_BASE_URL, else OpenAI's.
        http_client: a shared `httpx.AsyncClient` (not closed by `aclose`).
        timeout: seconds or an `httpx.Timeout` per HTTP exchange.
        organization: the OpenAI-Organization header; default OPENAI_ORG_ID.
        project: the OpenAI-Project header; default OPENAI_PROJECT_ID.
        max_tokens_field: "max_completion_tokens" (OpenAI's current models) or "max_tokens"
            (older OpenAI-compatible servers).
        system_role: "system", or "developer" for OpenAI reasoning models that want it.
    """

    provider_name: ClassVar[str] = "openai"
    env_keys: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    env_base_url: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    request_id_header: ClassVar[str | None] = "x-request-id"

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
    ) -> None:
        if max_tokens_field not in ("max_completion_tokens", "max_tokens"):
            raise ValueError(
                "max_tokens_field must be 'max_completion_tokens' or 'max_tokens', "
                f"got {max_tokens_field!r}"
            )
        if system_role not in ("system", "developer"):
            raise ValueError(f"system_role must be 'system' or 'developer', got {system_role!r}")
        for option, value in (("organization", organization), ("project", project)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{option} must be a non-empty string, got {value!r}")
        super().__init__(
            config,
            api_key=api_key,
            credentials=credentials,
            base_url=base_url,
            http_client=http_client,
            timeout=timeout,
        )
        self.max_tokens_field = max_tokens_field
        self.system_role = system_role
        self.organization = organization or os.environ.get("OPENAI_ORG_ID") or None
        self.project = project or os.environ.get("OPENAI_PROJECT_ID") or None
        self._endpoint = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        self._static_headers = headers

    def _url(self, stream: bool) -> str:
        """Returns the Chat Completions URL (the same for streams)."""
        return self._endpoint

    def _headers(self, key: str) -> dict[str, str]:
        """Returns the headers with the bearer key."""
        headers = self._static_headers.copy()
        headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, request: CompletionRequest, stream: bool) -> bytes:
        """Encodes the Chat Completions body."""
        system_role = self.system_role
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {
                    "role": system_role if m.role == "system" else m.role,
                    "content": m.content,
                }
                for m in request.messages
            ],
            self.max_tokens_field: request.max_tokens or self.config.max_output_tokens,
        }
        temperature = (
            request.temperature if request.temperature is not None else self.config.temperature
        )
        if temperature is not None:
            body["temperature"] = temperature
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(request.json_schema),
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        elif request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return _ENCODER.encode(body)

    def _parse_response(
        self, body: bytes, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a completion; a refusal, a filtered or an empty answer raises."""
        return parse_completion(
            body, config_model=self.config.model, latency_ms=latency_ms, request_id=request_id
        )

    def _stream_parser(self) -> StreamParser:
        """Returns a parser for one stream."""
        return OpenAIStream(self.config.model)

    def _error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer to its class, keeping OpenAI's message, type and code."""
        return error_from_body(status, body)

    def _error_in_body(self, body: bytes) -> LLMError | None:
        """Finds an `{"error": ...}` object in a 200 body that should have been a stream."""
        return error_in_body(body)
