"""Azure OpenAI: OpenAI's Chat Completions at an Azure resource, in either URL style.

- `api_style="v1"` (the default): `POST {endpoint}/openai/v1/chat/completions`, the
  deployment name as `model`, no `api-version` (the v1 path rejects it).
- `api_style="deployments"`: `POST {endpoint}/openai/deployments/{deployment}/chat/completions
  ?api-version=...`, as the OpenAI SDK's `AzureOpenAI` client builds it.

Auth is the `api-key` header (a resource key), or `Authorization: Bearer <token>` with a
Microsoft Entra ID token (`EntraIDCredentials`, or any `Credentials`). The body, answers,
streams and errors are OpenAI's, so `AzureOpenAIDialect` holds an `OpenAIDialect` and
changes only the URL, the auth header and the content filter (`filters`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx

from ashford_llm.config import ConfigError, ModelConfig
from ashford_llm.errors import LLMError
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.azure.filters import CompletionFilter, completion_filter, prompt_filter
from ashford_llm.providers.credentials import Credentials, StaticCredentials
from ashford_llm.providers.dialect import Delta
from ashford_llm.providers.openai.decode import OpenAIStreamDecoder
from ashford_llm.providers.openai.dialect import OpenAIDialect
from ashford_llm.providers.provider import HTTPProvider, check_config
from ashford_llm.types import CompletionRequest, CompletionResponse

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIDialect", "AzureOpenAIProvider"]

DEFAULT_API_VERSION = "2024-10-21"
"""The latest GA data-plane version for the deployments style (OPENAI_API_VERSION overrides)."""
OTEL_PROVIDER_NAME = "azure.ai.openai"

ApiStyle = Literal["v1", "deployments"]
AuthHeader = Literal["api-key", "bearer"]


def _endpoint(given: str | None) -> str:
    """Returns the resource endpoint (given, else AZURE_OPENAI_ENDPOINT), without a path suffix.

    An endpoint pasted with its `/openai` or `/openai/v1` path is accepted: the path is added
    back per URL style.
    """
    endpoint = (given or os.environ.get("AZURE_OPENAI_ENDPOINT", "")).strip().rstrip("/")
    if not endpoint:
        raise ConfigError(
            "Azure OpenAI needs its endpoint: pass endpoint= or set AZURE_OPENAI_ENDPOINT "
            "(https://<resource>.openai.azure.com)"
        )
    for suffix in ("/openai/v1", "/openai"):
        endpoint = endpoint.removesuffix(suffix)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the Azure endpoint must be an http(s) URL, got {endpoint!r}")
    return endpoint


class AzureStreamDecoder:
    """The OpenAI stream decoder, plus Azure's content-filter verdicts from each chunk."""

    __slots__ = ("_filter", "_inner")

    def __init__(self, inner: OpenAIStreamDecoder) -> None:
        self._inner = inner
        self._filter = CompletionFilter()

    @property
    def done(self) -> bool:
        """True once `[DONE]` arrived."""
        return self._inner.done

    @property
    def complete(self) -> bool:
        """True once `[DONE]` arrived."""
        return self._inner.complete

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens of the usage chunk, if one arrived."""
        return self._inner.usage

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one chunk: its deltas from the OpenAI decoder, its verdicts kept here."""
        deltas = self._inner.feed(event, data)
        if "content_filter" in data:
            self._filter.feed(data)
        return deltas

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response; an answer the filter cut raises ContentFilterError."""
        error = self._filter.error()
        if error is not None:
            error.request_id = request_id
            raise error
        return self._inner.response(latency_ms, request_id)


class AzureOpenAIDialect:
    """Chat Completions at an Azure OpenAI resource, in the v1 or the deployments URL style.

    Args:
        config: the model config; `model` is the deployment name.
        endpoint: the resource root, e.g. `https://my-resource.openai.azure.com`.
        api_style: "v1" or "deployments".
        deployment: the deployment in the URL (deployments style); default `config.model`.
        api_version: the `api-version` query value (deployments style only).
        auth: "api-key" sends the key as the `api-key` header; "bearer" as an Entra ID token.
        max_tokens_field, system_role: as for OpenAIDialect.
    """

    request_id_header: str | None = "x-request-id"
    stream_content_type = "text/event-stream"

    def __init__(
        self,
        config: ModelConfig,
        *,
        endpoint: str,
        api_style: ApiStyle = "v1",
        deployment: str | None = None,
        api_version: str | None = None,
        auth: AuthHeader = "api-key",
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
    ) -> None:
        if api_style not in ("v1", "deployments"):
            raise ValueError(f"api_style must be 'v1' or 'deployments', got {api_style!r}")
        if auth not in ("api-key", "bearer"):
            raise ValueError(f"auth must be 'api-key' or 'bearer', got {auth!r}")
        if api_style == "v1" and api_version is not None:
            raise ValueError("the v1 API takes no api_version; use api_style='deployments'")
        if api_style == "deployments" and not (api_version or "").strip():
            raise ValueError("the deployments style needs an api_version, e.g. '2024-10-21'")
        if deployment is not None and (not isinstance(deployment, str) or not deployment.strip()):
            raise ValueError(f"deployment must be a non-empty string, got {deployment!r}")
        self.endpoint = endpoint.rstrip("/")
        self.api_style = api_style
        self.auth = auth
        self.deployment = deployment or config.model
        self.api_version = api_version
        if api_style == "v1":
            self.base_url = f"{self.endpoint}/openai/v1"
            self._url = f"{self.base_url}/chat/completions"
        else:
            self.base_url = f"{self.endpoint}/openai/deployments/{quote(self.deployment, safe='')}"
            version = quote(str(api_version), safe="")
            self._url = f"{self.base_url}/chat/completions?api-version={version}"
        self._openai = OpenAIDialect(
            config,
            base_url=self.base_url,
            name="azure",
            otel_provider_name=OTEL_PROVIDER_NAME,
            max_tokens_field=max_tokens_field,
            system_role=system_role,
        )
        self.name = self._openai.name
        self.otel_provider_name = self._openai.otel_provider_name
        self.model = self._openai.model

    def url(self, *, stream: bool) -> str:
        """Returns the Chat Completions URL of the configured style (the same for streams)."""
        return self._url

    def headers(self, key: str) -> dict[str, str]:
        """Returns the headers with the key as `api-key`, or the token as a bearer."""
        headers = self._openai.headers(key)
        if self.auth == "api-key":
            del headers["Authorization"]
            headers["api-key"] = key
        return headers

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes OpenAI's body; `model` is the deployment name."""
        return self._openai.encode(request, stream=stream)

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a completion; one the content filter cut raises ContentFilterError."""
        filtered = completion_filter(body) if b"content_filter" in body else None
        if filtered is not None:
            filtered.request_id = request_id
            raise filtered
        return self._openai.decode(body, latency_ms=latency_ms, request_id=request_id)

    def stream_decoder(self) -> AzureStreamDecoder:
        """Returns a decoder for one stream that also watches the content filter."""
        return AzureStreamDecoder(self._openai.stream_decoder())

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Reads the Server-Sent Events of a stream."""
        return self._openai.frames(response)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Maps an error answer; a filtered prompt (400 `content_filter`) is ContentFilterError."""
        filtered = prompt_filter(body) if status == 400 else None
        return filtered or self._openai.error(status, headers, body)

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds an `{"error": ...}` object in a body that should have been an answer."""
        return self._openai.error_in_body(body)


class AzureOpenAIProvider(HTTPProvider):
    """Calls Chat Completions on Azure OpenAI, with a resource key or an Entra ID token.

    Args:
        config: `provider="azure"`; `model` is the deployment name.
        endpoint: the resource root; default AZURE_OPENAI_ENDPOINT.
        api_style: "v1" (`/openai/v1/...`, no api-version) or "deployments"
            (`/openai/deployments/{deployment}/...?api-version=`).
        deployment: the deployment in a deployments-style URL; default `config.model`.
        api_version: deployments style only; default OPENAI_API_VERSION, else
            `DEFAULT_API_VERSION`.
        api_key: a resource key, sent as `api-key`.
        credentials: `Credentials` giving Entra ID tokens (`EntraIDCredentials`), sent as a
            bearer; or keys from a vault, with `auth="api-key"`.
        auth: how the key is sent; default "bearer" with `credentials` or an
            AZURE_OPENAI_AD_TOKEN, else "api-key".
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient` (not closed by `aclose`).
        timeout: seconds or an `httpx.Timeout` per HTTP exchange.
        max_tokens_field, system_role: as for OpenAIProvider.

    With neither `api_key` nor `credentials`, AZURE_OPENAI_AD_TOKEN (a bearer token) wins
    over AZURE_OPENAI_API_KEY, as in the OpenAI SDK.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        endpoint: str | None = None,
        api_style: ApiStyle = "v1",
        deployment: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        auth: AuthHeader | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        system_role: Literal["system", "developer"] = "system",
    ) -> None:
        check_config(config, "azure")
        if api_key is not None and credentials is not None:
            raise ValueError("pass api_key or credentials, not both")
        env_keys: tuple[str, ...] = ("AZURE_OPENAI_API_KEY",)
        default_auth: AuthHeader = "api-key"
        if credentials is not None:
            default_auth = "bearer"
        elif api_key is None and os.environ.get("AZURE_OPENAI_AD_TOKEN", "").strip():
            credentials = StaticCredentials(os.environ["AZURE_OPENAI_AD_TOKEN"])
            default_auth = "bearer"
        if api_style == "deployments" and api_version is None:
            api_version = os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION
        dialect = AzureOpenAIDialect(
            config,
            endpoint=_endpoint(endpoint),
            api_style=api_style,
            deployment=deployment,
            api_version=api_version,
            auth=auth or default_auth,
            max_tokens_field=max_tokens_field,
            system_role=system_role,
        )
        super().__init__(
            dialect,
            env_keys=env_keys,
            api_key=api_key,
            credentials=credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )

    def __repr__(self) -> str:
        style = self.dialect.api_style if isinstance(self.dialect, AzureOpenAIDialect) else "?"
        return f"{type(self).__name__}(model={self.model!r}, api_style={style!r})"
