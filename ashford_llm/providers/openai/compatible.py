"""OpenAI-compatible vendors (Groq, Mistral, Ollama, ...): the OpenAI dialect driven by a profile.

`ModelConfig(provider="groq", model=...)` finds the built-in profile of that name; a profile
of your own is passed as `profile=` (or declared in a TOML stack file). Responses, errors and
spans carry the profile's name and OTel provider name, never "openai".
"""

from __future__ import annotations

import os

import httpx

from ashford_llm.config import ModelConfig
from ashford_llm.providers._http import AsyncHTTPClient
from ashford_llm.providers.credentials import Credentials
from ashford_llm.providers.openai.dialect import OpenAIDialect
from ashford_llm.providers.profiles import Profile, profile_named
from ashford_llm.providers.provider import HTTPProvider, check_config, resolve_base_url

__all__ = ["OpenAICompatibleProvider"]


class OpenAICompatibleProvider(HTTPProvider):
    """Calls an OpenAI-compatible vendor's Chat Completions API, as its profile describes it.

    Args:
        config: the model and its defaults; `config.provider` names the profile.
        profile: the vendor's profile; default the built-in profile `config.provider` names.
        api_key: the key; default the first of the profile's `env_keys` that is set (a
            profile with `key_required=False` sends its placeholder when none is).
        credentials: an object with `async get()`/`async refresh()` instead of a fixed key.
        base_url: the API root including its version path; default the profile's
            `base_url_env` variable, else the profile's `base_url`.
        http_client: a shared `httpx.AsyncClient` or `httpx2.AsyncClient` (not closed by `aclose`).
        timeout: seconds or an `httpx.Timeout` per HTTP exchange.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        profile: Profile | None = None,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        http_client: AsyncHTTPClient | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        if profile is None:
            profile = profile_named(config.provider)
        elif not isinstance(profile, Profile):
            raise TypeError(f"profile must be a Profile, got {type(profile).__name__}")
        check_config(config, profile.name)
        self.profile = profile
        dialect = OpenAIDialect(
            config,
            base_url=resolve_base_url(base_url, profile.base_url_env, profile.base_url),
            name=profile.name,
            otel_provider_name=profile.otel_name,
            max_tokens_field=profile.max_tokens_field,
            system_role=profile.system_role,
            json_schema=profile.json_schema,
            strict_schema=profile.strict_schema,
            stream_usage=profile.stream_usage,
            seed_field=profile.seed_field,
            extra_headers=profile.headers,
        )
        if (
            api_key is None
            and credentials is None
            and not profile.key_required
            and not any(os.environ.get(name, "").strip() for name in profile.env_keys)
        ):
            api_key = profile.placeholder_key
        super().__init__(
            dialect,
            env_keys=profile.env_keys,
            api_key=api_key,
            credentials=credentials,
            http_client=http_client,
            timeout=timeout,
            max_output_tokens=config.max_output_tokens,
            temperature=config.temperature,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.name!r}, model={self.model!r})"
