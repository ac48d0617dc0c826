"""BedrockProvider: AWS Bedrock's Converse and ConverseStream APIs over httpx, signed by botocore.

`POST {base}/model/{modelId}/converse` answers whole, `/converse-stream` streams binary
event-stream frames; `modelId` (a model id, an inference-profile id or an ARN) is
percent-encoded as one path segment. The base is `https://bedrock-runtime.{region}.amazonaws.com`.

Auth: a Bedrock API key (`Authorization: Bearer`, from `api_key=`, `credentials=` or
AWS_BEARER_TOKEN_BEDROCK, which wins as in AWS's SDKs), else SigV4 with botocore credentials
(`aws_credentials=`, or the standard chain, optionally for a `profile`), signed per request.

Requests: system messages are `system` blocks; messages are `messages` with content blocks
(`content`); `maxTokens`, `temperature` (0 to 1), `topP` and `stopSequences` go in
`inferenceConfig`. Tools are `toolConfig.tools[].toolSpec` with `inputSchema.json` (`strict`
when set); `tool_choice` "required" is `{"any": {}}`, a name `{"tool": {"name"}}`, "auto" the
default (not sent). Converse has no "none": the tools are left out, which it refuses when the
conversation holds tool calls or results, so that is an InvalidRequestError; it has no
parallel-calls switch either, and no seed, so those are not sent.

Reasoning is mapped for Claude models (ids with `anthropic.claude-`), as the Anthropic
provider maps it (`thinking`), sent in `additionalModelRequestFields.thinking`, and the
effort in `outputConfig.effort`; with thinking on a temperature other than 1 or a top_p
below 0.95 is refused, and a forced tool choice with a thinking budget. Other models take
their own fields through `vendor_options` (e.g. `additionalModelRequestFields`).

JSON output: a `json_schema` is `outputConfig.textFormat` (native structured output) when
`structured_outputs=True`, else a system instruction, as is `json_mode` (Converse has no
schema-free JSON mode).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import InvalidRequestError, LLMError
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.anthropic.thinking import thinking_for, thinking_support
from ashford_llm.providers.bedrock.auth import (
    SigV4Signer,
    chain_credentials,
    check_region,
    require_botocore,
)
from ashford_llm.providers.bedrock.content import encode_messages
from ashford_llm.providers.bedrock.decode import BedrockStreamDecoder, parse_converse
from ashford_llm.providers.bedrock.errors import parse_error
from ashford_llm.providers.bedrock.eventstream import CONTENT_TYPE, read_event_stream
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.dialect import deep_merge
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.types import CompletionRequest, CompletionResponse, Tool

__all__ = ["BEARER_ENV", "BedrockDialect", "BedrockProvider", "default_base_url"]

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")

_ENCODER = msgspec.json.Encoder()
_JSON_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it "
    "and no Markdown code fences."
)
_LOOPBACK = frozenset(("127.0.0.1", "localhost", "::1"))


def default_base_url(region: str) -> str:
    """Returns the bedrock-runtime endpoint of a region."""
    return f"https://bedrock-runtime.{check_region(region)}.amazonaws.com"


def _claude_name(model: str) -> str | None:
    """Returns the Claude model name inside a Bedrock id (`us.anthropic.claude-...-v1:0`)."""
    _, found, rest = model.partition("anthropic.claude-")
    return "claude-" + rest if found else None


def _tool_spec(tool: Tool) -> dict[str, Any]:
    """Returns a `toolSpec` entry: name, description when given, schema, strict when set."""
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["inputSchema"] = {"json": tool.schema}
    if tool.strict:
        spec["strict"] = True
    return {"toolSpec": spec}


class BedrockDialect:
    """The Converse wire format for one model in one region.

    Args:
        config: the model id and its default options; temperature at most 1.
        base_url: the bedrock-runtime endpoint.
        auth: "sigv4" (a signer adds the auth) or "bearer" (a Bedrock API key).
        name: the provider name responses report.
        structured_outputs: send a `json_schema` as `outputConfig.textFormat`.
    """

    request_id_header: str | None = "x-amzn-requestid"
    stream_content_type = CONTENT_TYPE
    otel_provider_name = "aws.bedrock"

    def __init__(
        self,
        config: ModelConfig,
        *,
        base_url: str,
        auth: Literal["sigv4", "bearer"] = "sigv4",
        name: str = "bedrock",
        structured_outputs: bool = False,
    ) -> None:
        if auth not in ("sigv4", "bearer"):
            raise ValueError(f"auth must be 'sigv4' or 'bearer', got {auth!r}")
        if not isinstance(structured_outputs, bool):
            raise TypeError("structured_outputs must be a bool")
        if config.temperature is not None and config.temperature > 1:
            raise ValueError(f"Bedrock accepts temperature 0 to 1, got {config.temperature}")
        self.config = config
        self.model = config.model
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.name = name
        self.structured_outputs = structured_outputs
        model_path = f"{self.base_url}/model/{quote(config.model, safe='')}"
        self._urls = (f"{model_path}/converse", f"{model_path}/converse-stream")
        self._claude = _claude_name(config.model)

    def url(self, *, stream: bool) -> str:
        """Returns the Converse or ConverseStream URL."""
        return self._urls[stream]

    def headers(self, key: str) -> dict[str, str]:
        """Returns the JSON headers, and the bearer key unless a signer signs the request."""
        headers = {"content-type": "application/json"}
        if self.auth == "bearer":
            headers["authorization"] = f"Bearer {key}"
        return headers

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the Converse request (the same body for both operations)."""
        encoded = encode_messages(request.messages, provider=self.name)
        if not encoded.turns:
            raise InvalidRequestError(
                "Bedrock needs at least one user or assistant message besides system ones"
            )
        system = encoded.system
        config = self.config
        max_tokens = request.max_tokens or config.max_output_tokens
        inference: dict[str, Any] = {"maxTokens": max_tokens}
        body: dict[str, Any] = {"messages": encoded.turns}
        thinking, effort = self._reasoning(request, max_tokens)
        thinking_on = thinking is not None and thinking["type"] != "disabled"
        temperature = request.temperature
        if temperature is None and not thinking_on:
            temperature = config.temperature
        if temperature is not None:
            if temperature > 1:
                raise InvalidRequestError(f"Bedrock accepts temperature 0 to 1, got {temperature}")
            inference["temperature"] = temperature
        if request.top_p is not None:
            inference["topP"] = request.top_p
        if request.stop:
            inference["stopSequences"] = list(request.stop)
        body["inferenceConfig"] = inference
        if thinking is not None:
            body["additionalModelRequestFields"] = {"thinking": thinking}
        output_config: dict[str, Any] = {}
        if effort is not None:
            output_config["effort"] = effort
        if request.tools and request.tool_choice != "none":
            body["toolConfig"] = self._tool_config(request, thinking)
        elif encoded.has_tool_blocks:
            raise InvalidRequestError(
                "Converse needs the tools defined when the conversation holds tool calls or "
                "results, and has no tool_choice 'none': pass the tools with 'auto'"
            )
        if request.json_schema is not None and self.structured_outputs:
            schema = {"schema": _ENCODER.encode(request.json_schema).decode(), "name": "response"}
            output_config["textFormat"] = {
                "type": "json_schema",
                "structure": {"jsonSchema": schema},
            }
        elif request.json_schema is not None:
            schema_text = _ENCODER.encode(request.json_schema).decode()
            system = [
                *system,
                {"text": f"{_JSON_INSTRUCTION} It must follow this JSON Schema: {schema_text}"},
            ]
        elif request.json_mode:
            system = [*system, {"text": _JSON_INSTRUCTION}]
        if output_config:
            body["outputConfig"] = output_config
        if system:
            body["system"] = system
        if request.vendor_options:
            deep_merge(body, request.vendor_options)
        return _ENCODER.encode(body)

    def _reasoning(
        self, request: CompletionRequest, max_tokens: int
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Returns Claude's `thinking` and the effort, checking sampling as Anthropic does."""
        if request.reasoning is None:
            return None, None
        if self._claude is None:
            raise InvalidRequestError(
                f"reasoning is mapped for Claude models on Bedrock, not {self.model!r}: pass "
                "the model's own fields in vendor_options['additionalModelRequestFields']"
            )
        thinking, effort = thinking_for(
            request.reasoning,
            thinking_support(self._claude),
            model=self._claude,
            max_tokens=max_tokens,
        )
        if thinking is not None and thinking["type"] != "disabled":
            if request.temperature is not None and request.temperature != 1:
                raise InvalidRequestError(
                    "Claude takes no temperature other than 1 with thinking on, got "
                    f"{request.temperature}: leave it unset or turn thinking off"
                )
            if request.top_p is not None and request.top_p < 0.95:
                raise InvalidRequestError(
                    f"Claude takes top_p from 0.95 to 1 with thinking on, got {request.top_p}"
                )
        return thinking, effort

    def _tool_config(
        self, request: CompletionRequest, thinking: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Returns `toolConfig`: the tool specs and a toolChoice unless it is "auto"."""
        choice = request.tool_choice
        if choice != "auto" and thinking is not None and thinking["type"] == "enabled":
            raise InvalidRequestError(
                f"Claude rejects a forced tool_choice ({choice!r}) with thinking on a budget: "
                "use tool_choice 'auto', or turn thinking off"
            )
        config: dict[str, Any] = {"tools": [_tool_spec(tool) for tool in request.tools]}
        if choice == "required":
            config["toolChoice"] = {"any": {}}
        elif choice != "auto":
            config["toolChoice"] = {"tool": {"name": choice}}
        return config

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a ConverseResponse."""
        return parse_converse(
            body, provider=self.name, model=self.model, latency_ms=latency_ms, request_id=request_id
        )

    def stream_decoder(self) -> BedrockStreamDecoder:
        """Returns a decoder for one stream."""
        return BedrockStreamDecoder(self.model, self.name)

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the binary event-stream frames (botocore's decoder)."""
        return read_event_stream(response)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a non-2xx answer by its `x-amzn-ErrorType` (or `__type`) and status."""
        return parse_error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Bedrock sends no error object in a 2xx body: None."""
        return None


def _region(region: str | None, profile: str | None) -> str:
    """Returns the region given, else from AWS_REGION / AWS_DEFAULT_REGION, else the profile's."""
    if region is None:
        region = next((os.environ[name] for name in REGION_ENVS if os.environ.get(name)), None)
    if region is None:
        botocore = require_botocore()
        region = botocore.session.Session(profile=profile).get_config_variable("region")
    if region is None:
        raise ValueError("no AWS region: pass region= or set AWS_REGION")
    return check_region(str(region))


class BedrockProvider(HTTPProvider):
    """Calls a model on AWS Bedrock through the Converse API, whole or streamed.

    Args:
        config: the model id (e.g. "anthropic.claude-sonnet-4-5-20250929-v1:0", an inference
            profile id like "us.anthropic...", or an ARN) and its default options.
        region: the AWS region; otherwise AWS_REGION, AWS_DEFAULT_REGION or the profile's.
        api_key: a Bedrock API key (sent as a bearer token).
        credentials: an object with `async get()` and `async refresh()` returning API keys.
        aws_credentials: botocore credentials to sign with (SigV4), static or refreshable.
        profile: the AWS profile the credential chain and region come from.
        base_url: the endpoint; otherwise AWS_ENDPOINT_URL_BEDROCK_RUNTIME or the region's.
        http_client: a shared `httpx.AsyncClient`, which the provider then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        structured_outputs: send a `json_schema` as native structured output
            (`outputConfig.textFormat`, which not every model takes) instead of an instruction.

    With no key, credentials or AWS_BEARER_TOKEN_BEDROCK, requests are signed with SigV4 and
    the standard AWS credential chain (a missing credential fails here, before any request).
    A bearer key goes only over HTTPS, or plain HTTP to a loopback test server.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        region: str | None = None,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        aws_credentials: Any = None,
        profile: str | None = None,
        base_url: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        structured_outputs: bool = False,
    ) -> None:
        check_config(config, "bedrock")
        require_botocore()
        region = _region(region, profile)
        signs = aws_credentials is not None or profile is not None
        bearer = api_key is not None or credentials is not None
        if signs and bearer:
            raise ValueError("pass a Bedrock API key or AWS credentials (or a profile), not both")
        if not signs and not bearer:
            bearer = bool(os.environ.get(BEARER_ENV, "").strip())
        url = resolve_base_url(base_url, ENDPOINT_ENV, default_base_url(region))
        if bearer:
            parts = urlsplit(url)
            if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
                raise ValueError(
                    "a Bedrock API key is sent over HTTPS only (or to a loopback host)"
                )
        dialect = BedrockDialect(
            config,
            base_url=url,
            auth="bearer" if bearer else "sigv4",
            structured_outputs=structured_outputs,
        )
        common: dict[str, Any] = {
            "http_client": http_client,
            "timeout": timeout,
            "max_output_tokens": config.max_output_tokens,
            "temperature": config.temperature,
        }
        self.region = region
        if bearer:
            super().__init__(
                dialect, env_keys=(BEARER_ENV,), api_key=api_key, credentials=credentials, **common
            )
        else:
            source = aws_credentials if aws_credentials is not None else chain_credentials(profile)
            super().__init__(dialect, signer=SigV4Signer(source, region=region), **common)

    def __repr__(self) -> str:
        return f"BedrockProvider(model={self.model!r}, region={self.region!r})"
