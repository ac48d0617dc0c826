"""OpenAI-compatible vendors as data: one `Profile` per vendor, no class per vendor.

A profile names the vendor and says where it is (base URL, the environment variables that
may hold its key or override its URL), what OpenTelemetry calls it (`gen_ai.provider.name`:
the semantic conventions' well-known value where one exists, else the profile's name), and
the few ways its Chat Completions API differs from OpenAI's. `OpenAICompatibleProvider`
drives the OpenAI dialect with it. Built-in profiles are in `BUILTIN_PROFILES`; a user adds
one in code (`Profile(...)`) or in a TOML stack file (`[profiles.NAME]`, see docs/config.md).

This module imports only msgspec, so the registry and the config can read it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

import msgspec

from ashford_llm.config import ConfigError

__all__ = ["BUILTIN_PROFILES", "Profile", "profile_from_dict", "profile_named"]


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One OpenAI-compatible vendor: where it is and how its API differs from OpenAI's.

    Args:
        name: the provider name responses, errors and spans report ("groq").
        base_url: the API root including its version path (`https://api.groq.com/openai/v1`).
        env_keys: environment variables that may hold the key, first set wins.
        base_url_env: an environment variable that overrides `base_url` (`OLLAMA_BASE_URL`).
        otel_provider_name: `gen_ai.provider.name`; default `name`.
        key_required: False for local servers that take no key (Ollama, vLLM): with no key
            given or set, the placeholder `placeholder_key` is sent.
        placeholder_key: what is sent as the bearer key when none is needed or set.
        max_tokens_field: the body field of the output budget.
        system_role: the role a system message is sent with ("developer" for servers that
            want OpenAI's newer name).
        json_schema: True when `response_format: json_schema` is accepted; False sends
            `json_object` instead (JSON mode only, e.g. DeepSeek), and JsonValidation checks
            the schema on the answer.
        strict_schema: send `"strict": true` with a JSON schema (Ollama rejects it).
        stream_usage: send `stream_options: {"include_usage": true}` on streams.
        seed_field: the body field of `CompletionRequest.seed` (Mistral: `random_seed`).
        headers: extra headers on every request (OpenRouter's `HTTP-Referer`, `X-Title`);
            never a credential: keys come from `env_keys` or the provider's options.
    """

    name: str
    base_url: str
    env_keys: tuple[str, ...] = ()
    base_url_env: str | None = None
    otel_provider_name: str | None = None
    key_required: bool = True
    placeholder_key: str = "not-needed"
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_tokens"
    system_role: Literal["system", "developer"] = "system"
    json_schema: bool = True
    strict_schema: bool = True
    stream_usage: bool = True
    seed_field: str = "seed"
    headers: dict[str, str] = {}

    def __post_init__(self) -> None:
        if not self.name.strip() or self.name != self.name.strip().lower():
            raise ConfigError(f"Profile.name must be a lower-case name, got {self.name!r}")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Profile {self.name!r}: base_url must be an http(s) URL")
        if self.key_required and not self.env_keys:
            raise ConfigError(
                f"Profile {self.name!r}: name the key's environment variables (env_keys), "
                "or set key_required = false"
            )
        for header in self.headers:
            if header.lower() in ("authorization", "api-key", "x-api-key"):
                raise ConfigError(
                    f"Profile {self.name!r}: headers must not hold a credential ({header}); "
                    "keys come from env_keys"
                )

    @property
    def otel_name(self) -> str:
        """`gen_ai.provider.name`: the semconv value, else the profile's name."""
        return self.otel_provider_name or self.name


def profile_from_dict(name: str, data: Any) -> Profile:
    """Decodes a profile from a mapping (a TOML `[profiles.NAME]` table), naming bad fields."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"[profiles.{name}] must be a table, got {type(data).__name__}")
    try:
        return msgspec.convert({"name": name.strip().lower(), **data}, Profile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid profile {name!r}: {exc}") from exc


_PROFILES = (
    # Local servers: no key needed; each takes a URL override from its environment variable.
    Profile(
        name="ollama",
        base_url="http://localhost:11434/v1",
        base_url_env="OLLAMA_BASE_URL",
        env_keys=("OLLAMA_API_KEY",),
        key_required=False,
        placeholder_key="ollama",
        strict_schema=False,  # json_schema works, `strict` is not supported
    ),
    Profile(
        name="vllm",
        base_url="http://localhost:8000/v1",
        base_url_env="VLLM_BASE_URL",
        env_keys=("VLLM_API_KEY",),
        key_required=False,
        placeholder_key="EMPTY",
    ),
    # Hosted vendors.
    Profile(
        name="groq",
        base_url="https://api.groq.com/openai/v1",
        env_keys=("GROQ_API_KEY",),
        otel_provider_name="groq",
        max_tokens_field="max_completion_tokens",
    ),
    Profile(
        name="openrouter",
        base_url="https://openrouter.ai/api/v1",
        env_keys=("OPENROUTER_API_KEY",),
    ),
    Profile(
        name="deepseek",
        base_url="https://api.deepseek.com",
        env_keys=("DEEPSEEK_API_KEY",),
        otel_provider_name="deepseek",
        json_schema=False,  # JSON mode (json_object) only
    ),
    Profile(
        name="mistral",
        base_url="https://api.mistral.ai/v1",
        env_keys=("MISTRAL_API_KEY",),
        otel_provider_name="mistral_ai",
        stream_usage=False,  # usage comes in the last chunk unasked
        seed_field="random_seed",
    ),
    Profile(
        name="xai",
        base_url="https://api.x.ai/v1",
        env_keys=("XAI_API_KEY",),
        otel_provider_name="x_ai",
    ),
    Profile(
        name="together",
        base_url="https://api.together.xyz/v1",
        env_keys=("TOGETHER_API_KEY",),
    ),
)

BUILTIN_PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in _PROFILES})
"""Built-in profile name -> Profile."""


def profile_named(name: str) -> Profile:
    """Returns the built-in profile `name`, or raises ConfigError listing the known ones."""
    key = name.strip().lower()
    if key not in BUILTIN_PROFILES:
        known = ", ".join(sorted(BUILTIN_PROFILES))
        raise ConfigError(f"no built-in profile {name!r}; built-in profiles: {known}")
    return BUILTIN_PROFILES[key]
