"""Model configuration: which vendor and model a provider calls, and its default options."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["ConfigError", "ModelConfig", "StackConfig"]


class ConfigError(ValueError):
    """A configuration could not be read or has a bad field; the message names it."""


class ModelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which vendor and model to call, with the defaults requests fall back to.

    Args:
        provider: the provider's registered name ("openai", "anthropic", "google").
        model: the vendor's model name, e.g. "gpt-4o-mini".
        temperature: default temperature; None sends none (the vendor's default), which
            some current models require.
        max_output_tokens: default upper bound on generated tokens.
    """

    provider: str
    model: str
    temperature: float | None = None
    max_output_tokens: int = 1024

    def __post_init__(self) -> None:
        for name in ("provider", "model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"ModelConfig.{name} must be a non-empty string, got {value!r}")
        if self.temperature is not None and (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or not math.isfinite(self.temperature)
            or not 0 <= self.temperature <= 2
        ):
            raise ConfigError(
                f"ModelConfig.temperature must be between 0 and 2, got {self.temperature!r}"
            )
        if (
            isinstance(self.max_output_tokens, bool)
            or not isinstance(self.max_output_tokens, int)
            or self.max_output_tokens < 1
        ):
            raise ConfigError(
                "ModelConfig.max_output_tokens must be a positive int, "
                f"got {self.max_output_tokens!r}"
            )

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        """Decodes a config from a mapping (e.g. a TOML table), naming any bad field."""
        try:
            return msgspec.convert(data, cls)
        except (msgspec.ValidationError, RecursionError) as exc:
            raise ConfigError(f"invalid model config: {exc}") from exc

    @classmethod
    def from_toml(cls, source: str | Path, *, table: str | None = None) -> ModelConfig:
        """Reads a config from TOML text or a file path; `table` selects a dotted sub-table."""
        return cls.from_dict(_read_toml(source, table))


class StackConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole client stack as a file describes it: the model, provider options, layers.

    In TOML: a `[model]` table (a ModelConfig), an optional `[provider]` table of provider
    keyword options (base_url, timeout, ...; never a key: keys come from the environment),
    `[[middleware]]` tables in order, outermost first, each naming its `layer` and
    giving that layer's options, and optional `[profiles.NAME]` tables, each an
    OpenAI-compatible vendor (`providers.profiles.Profile`: base_url, env_keys, quirks)
    that `[model] provider = "NAME"` can then name.
    """

    model: ModelConfig
    provider: dict[str, Any] = {}
    middleware: list[dict[str, Any]] = []
    profiles: dict[str, dict[str, Any]] = {}

    def __post_init__(self) -> None:
        for secret in ("api_key", "credentials", "access_token", "google_credentials"):
            if secret in self.provider:
                raise ConfigError(
                    f"[provider] must not hold {secret}: keep keys in the environment"
                )
        for index, layer in enumerate(self.middleware):
            if not isinstance(layer.get("layer"), str) or not layer["layer"]:
                raise ConfigError(f'[[middleware]] entry {index + 1} needs a layer = "Name"')
        self.registry()  # a bad profile fails when the file is read

    def registry(self) -> dict[str, Callable[..., Any]]:
        """Returns the file's profiles as a `provider_from_config(registry=...)` mapping.

        Each `[profiles.NAME]` becomes `OpenAICompatibleProvider` with that profile (loaded
        only when a provider is built), so `[model] provider = "NAME"` finds it.
        """
        if not self.profiles:
            return {}
        from ashford_llm.providers.profiles import profile_from_dict

        found: dict[str, Callable[..., Any]] = {}
        for name, table in self.profiles.items():
            profile = profile_from_dict(name, table)
            found[profile.name] = partial(_compatible_provider, profile=profile)
        return found

    @classmethod
    def from_dict(cls, data: Any) -> StackConfig:
        """Decodes a stack config from a mapping, naming any bad field."""
        try:
            return msgspec.convert(data, cls)
        except (msgspec.ValidationError, RecursionError) as exc:
            raise ConfigError(f"invalid stack config: {exc}") from exc

    @classmethod
    def from_toml(cls, source: str | Path) -> StackConfig:
        """Reads a stack config from TOML text or a file path."""
        return cls.from_dict(_read_toml(source, None))

    def layers(self) -> list[tuple[str, dict[str, Any]]]:
        """Returns (layer name, options) pairs, outermost first."""
        return [
            (str(entry["layer"]), {k: v for k, v in entry.items() if k != "layer"})
            for entry in self.middleware
        ]


def _compatible_provider(config: ModelConfig, **options: Any) -> Any:
    """Builds an OpenAICompatibleProvider (imported here, when a profile is used)."""
    from ashford_llm.providers.openai import OpenAICompatibleProvider

    return OpenAICompatibleProvider(config, **options)


def _read_toml(source: str | Path, table: str | None) -> Any:
    """Parses TOML text or a file, optionally descending into a dotted table."""
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {source}: {exc}") from exc
    else:
        text = source
    import tomllib  # only TOML users pay for the parser's import

    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of nested arrays
        raise ConfigError("invalid TOML: values nested too deeply") from exc
    if table:
        for key in table.split("."):
            if not isinstance(data, dict) or key not in data:
                raise ConfigError(f"config has no table [{table}]")
            data = data[key]
    return data
