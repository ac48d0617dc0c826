"""Vertex AI: Gemini and Claude through Google Cloud, with Google access tokens.

Both reuse their vendor's dialect for bodies, answers, streams and errors, and change only
what Vertex changes:

- Gemini: `{root}/{version}/projects/{project}/locations/{location}/publishers/google/models/
  {model}:generateContent`, and `:streamGenerateContent?alt=sse` (the same SSE framing and
  google.rpc errors as the Gemini API).
- Claude: `.../publishers/anthropic/models/{model}:rawPredict`, and `:streamRawPredict` for a
  stream; the Messages body without `model` (it is in the URL) and with `anthropic_version`
  ("vertex-2023-10-16", Anthropic's documented value) instead of the header. Errors come as
  google.rpc or Anthropic objects, depending on where the request failed (`errors`).

The root follows the location as Google's SDKs build it: `global` is
`https://aiplatform.googleapis.com`, the multi-regions `us` and `eu` are
`https://aiplatform.{location}.rep.googleapis.com`, any other region
`https://{location}-aiplatform.googleapis.com`. Auth is `Authorization: Bearer <token>`, plus
`x-goog-user-project` when a quota project is known. Responses, errors and spans name the
provider "vertex"; `gen_ai.provider.name` is "gcp.vertex_ai" (the semantic conventions' value
for Vertex AI).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import msgspec

from ashford_llm.config import ModelConfig
from ashford_llm.errors import LLMError
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.anthropic.decode import AnthropicStreamDecoder
from ashford_llm.providers.anthropic.dialect import AnthropicDialect
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.google.decode import GoogleStreamDecoder
from ashford_llm.providers.google.dialect import GoogleDialect
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url
from ashford_llm.providers.vertex import errors
from ashford_llm.providers.vertex.auth import GoogleAuthCredentials, GoogleCredentialsLike
from ashford_llm.types import CompletionRequest, CompletionResponse

__all__ = [
    "ANTHROPIC_VERTEX_VERSION",
    "VertexAnthropicDialect",
    "VertexAnthropicProvider",
    "VertexGeminiDialect",
    "VertexGeminiProvider",
    "vertex_provider",
    "vertex_root",
]

ANTHROPIC_VERTEX_VERSION = "vertex-2023-10-16"
OTEL_PROVIDER_NAME = "gcp.vertex_ai"
DEFAULT_LOCATION = "global"
_MULTI_REGIONS = frozenset({"us", "eu"})
# Project ids, numbers and domain-scoped ids ("example.com:proj"); locations like us-central1.
_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]*")
_LOCATION = re.compile(r"[a-z0-9][a-z0-9-]*")
# A model id is one path segment: Claude's carry "@date", nothing may start a query or path.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]*")
_DECODER = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder()

QuotaProject = Callable[[], str | None]


def vertex_root(location: str) -> str:
    """Returns the API root (without the version) for a Vertex location."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in _MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    """Returns `value` stripped if it is a safe path segment of its kind, else a ValueError."""
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        raise ValueError(f"{what} must be a Vertex AI {what} id, got {value!r}")
    return value.strip()


def _model_id(model: str) -> str:
    """Returns the model id, without a leading "models/" (as the Gemini API accepts it)."""
    return _checked(model.strip().removeprefix("models/"), _MODEL, "model")


class _VertexBase:
    """What both Vertex dialects share: the model's resource URL root and the auth headers."""

    request_id_header: str | None = None
    otel_provider_name = OTEL_PROVIDER_NAME
    stream_content_type = "text/event-stream"

    def __init__(
        self,
        config: ModelConfig,
        *,
        project: str,
        location: str,
        publisher: str,
        base_url: str | None,
        name: str,
        api_version: str,
        quota_project: QuotaProject | None,
    ) -> None:
        if not isinstance(api_version, str) or not api_version.strip("/ "):
            raise ValueError(f"api_version must be a non-empty string, got {api_version!r}")
        self.project = _checked(project, _PROJECT, "project")
        self.location = _checked(location, _LOCATION, "location")
        self.model = config.model
        self.name = name
        self.base_url = (base_url or vertex_root(self.location)).rstrip("/")
        self.api_version = api_version.strip("/ ")
        self._quota_project = quota_project
        self._resource = (
            f"{self.base_url}/{self.api_version}/projects/{self.project}/locations/"
            f"{self.location}/publishers/{publisher}/models/{_model_id(config.model)}"
        )

    def headers(self, key: str) -> dict[str, str]:
        """Returns the JSON and bearer headers, and the quota project when one is known."""
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        quota_project = self._quota_project() if self._quota_project is not None else None
        if quota_project:
            headers["x-goog-user-project"] = quota_project
        return headers


class VertexGeminiDialect(_VertexBase):
    """Gemini's generateContent on Vertex AI: the Google dialect at a Vertex model's URL.

    Args:
        config: the model (e.g. "gemini-2.5-flash") and its default options.
        project: the Google Cloud project id.
        location: "global", "us", "eu" or a region such as "europe-west4".
        base_url: the root without the version; None derives it from the location.
        name: the provider name responses report.
        api_version: the version path segment, "v1" (default) or "v1beta1".
        quota_project: returns the project billed for quota (`x-goog-user-project`), if any.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        project: str,
        location: str = DEFAULT_LOCATION,
        base_url: str | None = None,
        name: str = "vertex",
        api_version: str = "v1",
        quota_project: QuotaProject | None = None,
    ) -> None:
        super().__init__(
            config,
            project=project,
            location=location,
            publisher="google",
            base_url=base_url,
            name=name,
            api_version=api_version,
            quota_project=quota_project,
        )
        self._google = GoogleDialect(config, base_url=self.base_url, name=name)
        self._complete_url = f"{self._resource}:generateContent"
        self._stream_url = f"{self._resource}:streamGenerateContent?alt=sse"

    def url(self, *, stream: bool) -> str:
        """Returns the generateContent URL, or the SSE streamGenerateContent one."""
        return self._stream_url if stream else self._complete_url

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the GenerateContentRequest, as for the Gemini API."""
        return self._google.encode(request, stream=stream)

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a GenerateContentResponse."""
        return self._google.decode(body, latency_ms=latency_ms, request_id=request_id)

    def stream_decoder(self) -> GoogleStreamDecoder:
        """Returns a decoder for one stream."""
        return self._google.stream_decoder()

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the stream's Server-Sent Events (stray lines end it with their error)."""
        return self._google.frames(response)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps a google.rpc.Status answer by the Gemini rules (quota included)."""
        return errors.parse_gemini_error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds a google.rpc error object in a body that should have been an answer."""
        return self._google.error_in_body(body)


class VertexAnthropicDialect(_VertexBase):
    """Claude's Messages on Vertex AI: rawPredict / streamRawPredict at a Vertex model's URL.

    Args:
        config: the model (e.g. "claude-sonnet-4-5@20250929") and its default options.
        project: the Google Cloud project id.
        location: "global", "us", "eu" or a region such as "us-east5".
        base_url: the root without the version; None derives it from the location.
        name: the provider name responses report.
        api_version: the version path segment, "v1" (default).
        anthropic_version: the body's `anthropic_version`.
        structured_outputs: use native structured outputs for `json_schema`; None decides by
            the model name.
        quota_project: returns the project billed for quota (`x-goog-user-project`), if any.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        project: str,
        location: str = DEFAULT_LOCATION,
        base_url: str | None = None,
        name: str = "vertex",
        api_version: str = "v1",
        anthropic_version: str = ANTHROPIC_VERTEX_VERSION,
        structured_outputs: bool | None = None,
        quota_project: QuotaProject | None = None,
    ) -> None:
        if not isinstance(anthropic_version, str) or not anthropic_version.strip():
            raise ValueError(
                f"anthropic_version must be a non-empty string, got {anthropic_version!r}"
            )
        super().__init__(
            config,
            project=project,
            location=location,
            publisher="anthropic",
            base_url=base_url,
            name=name,
            api_version=api_version,
            quota_project=quota_project,
        )
        self.anthropic_version = anthropic_version.strip()
        self._anthropic = AnthropicDialect(
            config,
            base_url=self.base_url,
            name=name,
            auth_header="bearer",
            structured_outputs=structured_outputs,
        )
        self._complete_url = f"{self._resource}:rawPredict"
        self._stream_url = f"{self._resource}:streamRawPredict"

    def url(self, *, stream: bool) -> str:
        """Returns the rawPredict URL, or the streamRawPredict one."""
        return self._stream_url if stream else self._complete_url

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the Messages body with `anthropic_version` first and without `model`.

        A `vendor_options` value for `anthropic_version` wins, as in Anthropic's SDK.
        """
        body = _DECODER.decode(self._anthropic.encode(request, stream=stream))
        body.pop("model", None)
        version = body.pop("anthropic_version", self.anthropic_version)
        return _ENCODER.encode({"anthropic_version": version, **body})

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a Message."""
        return self._anthropic.decode(body, latency_ms=latency_ms, request_id=request_id)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        """Returns a decoder for one stream."""
        return self._anthropic.stream_decoder()

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the stream's Server-Sent Events."""
        return self._anthropic.frames(response)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps an error answer of either shape (google.rpc from Vertex, or Anthropic's)."""
        return errors.parse_error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds an error object of either shape in a body that should have been an answer."""
        return errors.error_in_body(body)


def _setting(given: str | None, env_vars: tuple[str, ...]) -> str | None:
    """Returns the value given, else the first set environment variable's, else None."""
    if given is not None:
        return given
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class _Auth:
    """The credentials a Vertex provider uses, and where its quota project comes from."""

    def __init__(
        self,
        *,
        access_token: str | None,
        credentials: Credentials | None,
        google_credentials: GoogleCredentialsLike | None,
        quota_project: str | None,
    ) -> None:
        given = [o for o in (access_token, credentials, google_credentials) if o is not None]
        if len(given) > 1:
            raise ValueError("pass one of access_token, credentials and google_credentials")
        self.access_token = access_token
        self.credentials: Credentials | None = credentials
        if access_token is None and credentials is None:
            self.credentials = GoogleAuthCredentials(google_credentials)
        self._quota_project = quota_project

    def quota_project(self) -> str | None:
        """The quota project given, else the one the google-auth credentials carry."""
        if self._quota_project:
            return self._quota_project
        if isinstance(self.credentials, GoogleAuthCredentials):
            return self.credentials.quota_project
        return None


def _project(given: str | None, env_vars: tuple[str, ...]) -> str:
    """Returns the project, or raises naming where it may come from."""
    project = _setting(given, env_vars)
    if not project:
        raise ValueError("Vertex AI needs a project: pass project= or set " + " or ".join(env_vars))
    return project


def _location(given: str | None, env_vars: tuple[str, ...]) -> str:
    """Returns the location given, else from the environment, else "global"; checked."""
    return _checked(_setting(given, env_vars) or DEFAULT_LOCATION, _LOCATION, "location")


class VertexGeminiProvider(HTTPProvider):
    """Calls Gemini through Vertex AI, whole or streamed, with Google access tokens.

    Args:
        config: the model (e.g. "gemini-2.5-flash") and its default options; its `provider`
            is "vertex".
        project: the Google Cloud project; otherwise GOOGLE_CLOUD_PROJECT.
        location: "global", "us", "eu" or a region; otherwise GOOGLE_CLOUD_LOCATION, else
            "global".
        access_token: a fixed bearer token (tests, short scripts); it is never refreshed.
        credentials: an object with `async get()` and `async refresh()` returning tokens.
        google_credentials: a google-auth credentials object to take tokens from. With none
            of the three, Application Default Credentials are loaded on the first call
            (the `vertex` extra installs google-auth).
        quota_project: the project billed for quota (`x-goog-user-project`); otherwise the
            one the google-auth credentials carry, if any.
        base_url: the root without the version; otherwise GOOGLE_VERTEX_BASE_URL, else the
            location's host.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient`, which the provider
            then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        api_version: the version path segment, "v1" (default) or "v1beta1".
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        project: str | None = None,
        location: str | None = None,
        access_token: str | None = None,
        credentials: Credentials | None = None,
        google_credentials: GoogleCredentialsLike | None = None,
        quota_project: str | None = None,
        base_url: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        api_version: str = "v1",
    ) -> None:
        check_config(config, "vertex")
        auth = _Auth(
            access_token=access_token,
            credentials=credentials,
            google_credentials=google_credentials,
            quota_project=quota_project,
        )
        location = _location(location, ("GOOGLE_CLOUD_LOCATION",))
        dialect = VertexGeminiDialect(
            config,
            project=_project(project, ("GOOGLE_CLOUD_PROJECT",)),
            location=location,
            base_url=resolve_base_url(base_url, "GOOGLE_VERTEX_BASE_URL", vertex_root(location)),
            api_version=api_version,
            quota_project=auth.quota_project,
        )
        super().__init__(
            dialect,
            api_key=auth.access_token,
            credentials=auth.credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )


class VertexAnthropicProvider(HTTPProvider):
    """Calls Claude through Vertex AI, whole or streamed, with Google access tokens.

    Args:
        config: the model (e.g. "claude-sonnet-4-5@20250929") and its default options; its
            `provider` is "vertex"; `temperature` must be at most 1.
        project: the Google Cloud project; otherwise GOOGLE_CLOUD_PROJECT, then
            ANTHROPIC_VERTEX_PROJECT_ID.
        location: "global", "us", "eu" or a region; otherwise GOOGLE_CLOUD_LOCATION, then
            CLOUD_ML_REGION, else "global".
        access_token: a fixed bearer token (tests, short scripts); it is never refreshed.
        credentials: an object with `async get()` and `async refresh()` returning tokens.
        google_credentials: a google-auth credentials object to take tokens from. With none
            of the three, Application Default Credentials are loaded on the first call.
        quota_project: the project billed for quota (`x-goog-user-project`); otherwise the
            one the google-auth credentials carry, if any.
        base_url: the root without the version; otherwise GOOGLE_VERTEX_BASE_URL, else the
            location's host.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient`, which the provider
            then does not close.
        timeout: seconds or an `httpx.Timeout` for each HTTP exchange.
        api_version: the version path segment, "v1" (default).
        anthropic_version: the body's `anthropic_version` (default "vertex-2023-10-16").
        structured_outputs: use native structured outputs for `json_schema`; None decides by
            the model name.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        project: str | None = None,
        location: str | None = None,
        access_token: str | None = None,
        credentials: Credentials | None = None,
        google_credentials: GoogleCredentialsLike | None = None,
        quota_project: str | None = None,
        base_url: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        api_version: str = "v1",
        anthropic_version: str = ANTHROPIC_VERTEX_VERSION,
        structured_outputs: bool | None = None,
    ) -> None:
        check_config(config, "vertex")
        auth = _Auth(
            access_token=access_token,
            credentials=credentials,
            google_credentials=google_credentials,
            quota_project=quota_project,
        )
        location = _location(location, ("GOOGLE_CLOUD_LOCATION", "CLOUD_ML_REGION"))
        dialect = VertexAnthropicDialect(
            config,
            project=_project(project, ("GOOGLE_CLOUD_PROJECT", "ANTHROPIC_VERTEX_PROJECT_ID")),
            location=location,
            base_url=resolve_base_url(base_url, "GOOGLE_VERTEX_BASE_URL", vertex_root(location)),
            api_version=api_version,
            anthropic_version=anthropic_version,
            structured_outputs=structured_outputs,
            quota_project=auth.quota_project,
        )
        super().__init__(
            dialect,
            api_key=auth.access_token,
            credentials=auth.credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )


def vertex_provider(
    config: ModelConfig,
    *,
    publisher: Literal["google", "anthropic"] | None = None,
    **options: Any,
) -> VertexGeminiProvider | VertexAnthropicProvider:
    """Builds the Vertex provider for the model's publisher: Claude models go to Anthropic's.

    The registry's "vertex" name calls this. `publisher` forces the choice (for a model id
    that does not start with "claude"); None decides by the model id. `options` are the
    chosen class's keyword options.
    """
    if publisher not in (None, "google", "anthropic"):
        raise ValueError(f"publisher must be 'google' or 'anthropic', got {publisher!r}")
    if publisher is None:
        claude = config.model.strip().lower().startswith("claude")
        publisher = "anthropic" if claude else "google"
    if publisher == "anthropic":
        return VertexAnthropicProvider(config, **options)
    return VertexGeminiProvider(config, **options)
