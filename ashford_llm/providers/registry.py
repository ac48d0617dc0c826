"""Finds the provider class for a config's `provider` name, without global mutable state.

Three sources, searched in this order:

1. the `registry=` mapping passed to the call (name -> class or "module:Class");
2. the built-in names (`BUILTIN_PROVIDERS`), imported lazily by dotted path, so importing
   ashford_llm loads no vendor module and a vendor's module loads only when it is used;
3. the package entry-point group `ashford_llm.providers` (`ENTRY_POINT_GROUP`), where third
   parties register their class, e.g. in pyproject.toml:

       [project.entry-points."ashford_llm.providers"]
       cohere = "my_package.cohere:CohereProvider"

Built-in names win over entry points, so an installed package cannot silently replace them;
pass `registry=` to override a built-in on purpose. Names are matched case-insensitively.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from ashford_llm.config import ConfigError, ModelConfig
from ashford_llm.protocol import LLMProvider

if TYPE_CHECKING:
    from importlib.metadata import EntryPoints

__all__ = [
    "BUILTIN_PROVIDERS",
    "ENTRY_POINT_GROUP",
    "ProviderFactory",
    "known_providers",
    "provider_class",
    "provider_from_config",
]

ProviderFactory: TypeAlias = Callable[..., LLMProvider]
"""A provider class (or factory) called as `factory(config, **kwargs)`."""

ENTRY_POINT_GROUP = "ashford_llm.providers"
_COMPATIBLE = "ashford_llm.providers.openai:OpenAICompatibleProvider"

BUILTIN_PROVIDERS: Mapping[str, str] = MappingProxyType(
    {
        "anthropic": "ashford_llm.providers.anthropic:AnthropicProvider",
        "azure": "ashford_llm.providers.azure:AzureOpenAIProvider",
        "bedrock": "ashford_llm.providers.bedrock:BedrockProvider",
        "gemini": "ashford_llm.providers.google:GoogleProvider",
        "google": "ashford_llm.providers.google:GoogleProvider",
        "openai": "ashford_llm.providers.openai:OpenAIProvider",
        "vertex": "ashford_llm.providers.vertex:vertex_provider",
        # OpenAI-compatible vendors: one class, the profile of the same name (profiles.py).
        "deepseek": _COMPATIBLE,
        "groq": _COMPATIBLE,
        "mistral": _COMPATIBLE,
        "ollama": _COMPATIBLE,
        "openrouter": _COMPATIBLE,
        "together": _COMPATIBLE,
        "vllm": _COMPATIBLE,
        "xai": _COMPATIBLE,
    }
)
"""Built-in name -> "module:Class"; "gemini" is an alias of "google"; "vertex" picks Gemini or
Claude on Vertex AI by the model."""


def _load(name: str, target: str) -> ProviderFactory:
    """Imports "module:Class", naming the provider when that fails."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"provider {name!r} must be given as 'module:Class', got {target!r}")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load provider {name!r} from {target!r}: {exc}") from exc
    return _checked(name, found)


def _checked(name: str, found: Any) -> ProviderFactory:
    """Returns `found` if it can build a provider, else raises naming the provider."""
    if not callable(found):
        raise ConfigError(f"provider {name!r} is not a class or factory: {found!r}")
    factory: ProviderFactory = found
    return factory


def entry_points(*, group: str) -> EntryPoints:
    """Returns the installed entry points of `group` (importlib.metadata loads on first use)."""
    from importlib.metadata import entry_points as installed

    return installed(group=group)


def _entry_point_names() -> list[str]:
    """Returns the names registered in the entry-point group."""
    return [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]


def known_providers(registry: Mapping[str, ProviderFactory | str] | None = None) -> list[str]:
    """Returns every provider name available: given, built-in and installed, sorted."""
    names = set(BUILTIN_PROVIDERS) | {n.lower() for n in _entry_point_names()}
    if registry:
        names |= {n.lower() for n in registry}
    return sorted(names)


def provider_class(
    name: str, *, registry: Mapping[str, ProviderFactory | str] | None = None
) -> ProviderFactory:
    """Returns the class registered under `name`, or raises ConfigError listing known names."""
    key = name.strip().lower()
    if registry:
        for given, target in registry.items():
            if given.lower() == key:
                return _load(name, target) if isinstance(target, str) else _checked(name, target)
    if key in BUILTIN_PROVIDERS:
        return _load(name, BUILTIN_PROVIDERS[key])
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.lower() == key:
            try:
                loaded = ep.load()
            except (ImportError, AttributeError) as exc:
                raise ConfigError(
                    f"cannot load provider {name!r} from entry point {ep.value!r}: {exc}"
                ) from exc
            return _checked(name, loaded)
    raise ConfigError(
        f"unknown provider {name!r}; known providers: {', '.join(known_providers(registry))}"
    )


def provider_from_config(
    config: ModelConfig,
    *,
    registry: Mapping[str, ProviderFactory | str] | None = None,
    **kwargs: Any,
) -> LLMProvider:
    """Builds the provider `config.provider` names, passing `kwargs` to its constructor.

    Args:
        config: the model config; its `provider` picks the class.
        registry: extra name -> class (or "module:Class") entries, searched first.
        **kwargs: constructor options, e.g. `api_key=`, `http_client=`, `base_url=`.
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    factory = provider_class(config.provider, registry=registry)
    provider = factory(config, **kwargs)
    if not isinstance(provider, LLMProvider):
        raise TypeError(
            f"provider {config.provider!r} built {type(provider).__name__}, not an LLMProvider"
        )
    return provider
