import importlib
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from typing import Any, Self

import httpx
import pytest

import ashford_llm
from ashford_llm import (
    CompletionRequest,
    CompletionResponse,
    ConfigError,
    ModelConfig,
    StreamEvent,
    provider_from_config,
)
from ashford_llm.protocol import ProviderInfo
from ashford_llm.providers import OpenAIProvider, registry
from ashford_llm.providers.registry import (
    BUILTIN_PROVIDERS,
    ENTRY_POINT_GROUP,
    known_providers,
    provider_class,
)

KEY = "sk-test0123456789abcdef"


class EchoProvider:
    """A third-party provider: the smallest LLMProvider there is."""

    def __init__(self, config: ModelConfig, *, greeting: str = "hi") -> None:
        self.config = config
        self.greeting = greeting

    @property
    def name(self) -> str:
        return "echo"

    @property
    def info(self) -> ProviderInfo:
        return ProviderInfo(name="echo", model=self.config.model)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        raise NotImplementedError

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError
        yield

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class NotAProvider:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config


def fake_entry_points(*points: EntryPoint) -> Any:
    def entry_points(*, group: str) -> list[EntryPoint]:
        return [p for p in points if p.group == group]

    return entry_points


ECHO_POINT = EntryPoint("echo", f"{__name__}:EchoProvider", ENTRY_POINT_GROUP)


async def test_openai_config_builds_an_openai_provider() -> None:
    async with httpx.AsyncClient() as client:
        provider = provider_from_config(
            ModelConfig("openai", "gpt-4o-mini"), api_key=KEY, http_client=client
        )
        assert isinstance(provider, OpenAIProvider)
        assert provider.model == "gpt-4o-mini"


async def test_kwargs_reach_the_provider_constructor() -> None:
    async with httpx.AsyncClient() as client:
        provider = provider_from_config(
            ModelConfig("OpenAI", "llama3"),
            api_key=KEY,
            http_client=client,
            base_url="http://127.0.0.1:11434/v1",
            max_tokens_field="max_tokens",
        )
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "http://127.0.0.1:11434/v1"
    assert provider.dialect.max_tokens_field == "max_tokens"


def test_builtin_names_point_at_the_vendor_modules() -> None:
    # Endpoint providers (Azure, the OpenAI-compatible profiles) are pinned in their own tests.
    assert {
        name: BUILTIN_PROVIDERS[name]
        for name in ("anthropic", "bedrock", "gemini", "google", "openai", "vertex")
    } == {
        "anthropic": "ashford_llm.providers.anthropic:AnthropicProvider",
        "bedrock": "ashford_llm.providers.bedrock:BedrockProvider",
        "gemini": "ashford_llm.providers.google:GoogleProvider",
        "google": "ashford_llm.providers.google:GoogleProvider",
        "openai": "ashford_llm.providers.openai:OpenAIProvider",
        "vertex": "ashford_llm.providers.vertex:vertex_provider",
    }


@pytest.mark.parametrize("name", ["anthropic", "google", "gemini", "vertex"])
def test_other_builtin_names_load_their_class(name: str) -> None:
    module, _, attribute = BUILTIN_PROVIDERS[name].partition(":")
    cls = provider_class(name)
    assert cls.__name__ == attribute
    assert getattr(importlib.import_module(module), attribute) is cls


def test_gemini_is_an_alias_of_google() -> None:
    assert BUILTIN_PROVIDERS["gemini"] == BUILTIN_PROVIDERS["google"]


def test_unknown_name_is_a_config_error_listing_the_known_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(ECHO_POINT))
    with pytest.raises(ConfigError) as caught:
        provider_from_config(ModelConfig("cohere", "command"))
    message = str(caught.value)
    assert "'cohere'" in message
    for name in ("anthropic", "echo", "gemini", "google", "openai"):
        assert name in message
    assert isinstance(caught.value, ValueError)


def test_explicit_registry_takes_precedence_over_builtins() -> None:
    provider = provider_from_config(
        ModelConfig("openai", "m"), registry={"openai": EchoProvider}, greeting="hello"
    )
    assert isinstance(provider, EchoProvider)
    assert provider.greeting == "hello"


def test_explicit_registry_accepts_a_dotted_path() -> None:
    provider = provider_from_config(
        ModelConfig("echo", "m"), registry={"Echo": f"{__name__}:EchoProvider"}
    )
    assert isinstance(provider, EchoProvider)
    assert "echo" in known_providers({"Echo": EchoProvider})


def test_entry_point_registers_a_third_party_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(ECHO_POINT))
    provider = provider_from_config(ModelConfig("echo", "m"))
    assert isinstance(provider, EchoProvider)
    assert "echo" in known_providers()


def test_entry_point_cannot_replace_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    hijack = EntryPoint("openai", f"{__name__}:EchoProvider", ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(hijack))
    assert provider_class("openai") is OpenAIProvider


def test_entry_points_of_other_groups_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    other = EntryPoint("echo", f"{__name__}:EchoProvider", "somebody.else")
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(other))
    with pytest.raises(ConfigError, match="unknown provider 'echo'"):
        provider_class("echo")


def test_broken_entry_point_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint("echo", "no_such_module_here:Thing", ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(broken))
    with pytest.raises(ConfigError, match="no_such_module_here:Thing") as caught:
        provider_class("echo")
    assert isinstance(caught.value.__cause__, ImportError)


@pytest.mark.parametrize(
    "target", ["no_such_module_here:Thing", f"{__name__}:Missing", "no_colon_here"]
)
def test_bad_dotted_path_is_a_config_error_naming_it(target: str) -> None:
    with pytest.raises(ConfigError, match=target):
        provider_class("x", registry={"x": target})


def test_registered_value_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="not a class or factory"):
        provider_class("x", registry={"x": f"{__name__}:KEY"})


def test_factory_that_builds_no_provider_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="NotAProvider"):
        provider_from_config(ModelConfig("x", "m"), registry={"x": NotAProvider})


def test_config_must_be_a_model_config() -> None:
    with pytest.raises(TypeError, match="ModelConfig"):
        provider_from_config({"provider": "openai", "model": "m"})  # type: ignore[arg-type]


def test_provider_from_config_is_exported_from_the_package() -> None:
    assert ashford_llm.provider_from_config is provider_from_config
    assert "provider_from_config" in ashford_llm.__all__


def test_vendor_modules_load_only_when_their_name_is_looked_up() -> None:
    code = (
        "import sys, ashford_llm\n"
        "vendors = ('openai', 'anthropic', 'google')\n"
        "def loaded():\n"
        "    return [v for v in vendors if f'ashford_llm.providers.{v}' in sys.modules]\n"
        "print(loaded())\n"
        "ashford_llm.provider_class('openai')\n"
        "print(loaded())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == ["[]", "['openai']"]
