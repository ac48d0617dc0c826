"""OpenAI-compatible profiles: literal URLs, headers and bodies per quirk; names everywhere.

Each provider runs over an httpx.MockTransport that keeps the request and answers with a
minimal OpenAI completion (or stream), so what went out is compared with literal values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    CompletionRequest,
    ConfigError,
    MissingCredentialsError,
    ModelConfig,
    StackConfig,
    StreamEnd,
    provider_from_config,
)
from ashford_llm.providers import BUILTIN_PROFILES, OpenAICompatibleProvider, Profile
from ashford_llm.providers.registry import BUILTIN_PROVIDERS, known_providers
from tests.reliability.vendors import error_body, ok_body, sse_events

KEY = "key-profile-0123456789"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
SCHEMA: dict[str, Any] = {
    "title": "Ticket",
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "required": ["label"],
}
REQUEST = CompletionRequest(
    [ChatMessage.system("Be brief."), ChatMessage.user("Hi")], max_tokens=50, seed=7
)

# name -> (URL, max-tokens field, gen_ai.provider.name)
EXPECTED = {
    "ollama": ("http://localhost:11434/v1/chat/completions", "max_tokens", "ollama"),
    "vllm": ("http://localhost:8000/v1/chat/completions", "max_tokens", "vllm"),
    "groq": ("https://api.groq.com/openai/v1/chat/completions", "max_completion_tokens", "groq"),
    "openrouter": ("https://openrouter.ai/api/v1/chat/completions", "max_tokens", "openrouter"),
    "deepseek": ("https://api.deepseek.com/chat/completions", "max_tokens", "deepseek"),
    "mistral": ("https://api.mistral.ai/v1/chat/completions", "max_tokens", "mistral_ai"),
    "xai": ("https://api.x.ai/v1/chat/completions", "max_tokens", "x_ai"),
    "together": ("https://api.together.xyz/v1/chat/completions", "max_tokens", "together"),
}


class Capture:
    """A MockTransport handler that keeps each request and answers from a script."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, headers=JSON, content=ok_body("openai", "Hello!"))

    def body(self, index: int = 0) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.requests[index].content)
        return decoded


def build(
    name: str, capture: Capture, *, profile: Profile | None = None, **options: Any
) -> OpenAICompatibleProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(capture))
    options.setdefault("api_key", KEY)
    config = ModelConfig(name, "some-model", max_output_tokens=100)
    return OpenAICompatibleProvider(config, profile=profile, http_client=client, **options)


def test_every_builtin_profile_is_a_registered_provider_name() -> None:
    assert set(BUILTIN_PROFILES) == set(EXPECTED)
    for name in BUILTIN_PROFILES:
        assert BUILTIN_PROVIDERS[name] == "ashford_llm.providers.openai:OpenAICompatibleProvider"
    assert set(BUILTIN_PROFILES) <= set(known_providers())


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_a_profile_posts_to_its_vendor_url_with_its_quirks(name: str) -> None:
    url, max_field, otel = EXPECTED[name]
    capture = Capture()
    provider = build(name, capture)
    response = await provider.complete(REQUEST)
    sent = capture.requests[0]
    assert str(sent.url) == url
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = capture.body()
    assert body[max_field] == 50
    (other,) = {"max_tokens", "max_completion_tokens"} - {max_field}
    assert other not in body
    assert response.provider == name
    assert provider.name == name
    assert provider.info.name == name
    assert provider.info.otel_provider_name == otel


async def test_groq_body_is_the_literal_openai_body_with_its_budget_field() -> None:
    capture = Capture()
    await build("groq", capture).complete(REQUEST)
    assert capture.body() == {
        "model": "some-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_completion_tokens": 50,
        "seed": 7,
    }


async def test_mistral_sends_its_seed_as_random_seed_and_no_stream_options() -> None:
    capture = Capture(
        httpx.Response(200, headers=SSE, content="".join(sse_events("openai", ["Hel", "lo"])))
    )
    provider = build("mistral", capture)
    events = [event async for event in provider.stream(REQUEST)]
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.provider == "mistral"
    assert capture.body() == {
        "model": "some-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "random_seed": 7,
        "stream": True,
    }


async def test_a_profile_with_stream_usage_asks_for_the_usage_chunk() -> None:
    capture = Capture(
        httpx.Response(200, headers=SSE, content="".join(sse_events("openai", ["Hi"])))
    )
    async for _ in build("together", capture).stream(REQUEST):
        pass
    assert capture.body()["stream_options"] == {"include_usage": True}


async def test_deepseek_asks_for_json_mode_where_a_schema_is_wanted() -> None:
    capture = Capture(httpx.Response(200, headers=JSON, content=ok_body("openai", '{"a": 1}')))
    request = CompletionRequest([ChatMessage.user("Hi")], json_schema=SCHEMA)
    await build("deepseek", capture).complete(request)
    assert capture.body()["response_format"] == {"type": "json_object"}


async def test_ollama_sends_a_schema_without_strict() -> None:
    capture = Capture(httpx.Response(200, headers=JSON, content=ok_body("openai", '{"a": 1}')))
    request = CompletionRequest([ChatMessage.user("Hi")], json_schema=SCHEMA)
    await build("ollama", capture).complete(request)
    assert capture.body()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Ticket", "schema": SCHEMA},
    }


async def test_groq_sends_a_strict_schema() -> None:
    capture = Capture(httpx.Response(200, headers=JSON, content=ok_body("openai", '{"a": 1}')))
    request = CompletionRequest([ChatMessage.user("Hi")], json_schema=SCHEMA)
    await build("groq", capture).complete(request)
    assert capture.body()["response_format"]["json_schema"]["strict"] is True


async def test_a_local_profile_sends_its_placeholder_when_no_key_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/v1/")
    capture = Capture()
    await build("ollama", capture, api_key=None).complete(REQUEST)
    assert capture.requests[0].headers["authorization"] == "Bearer ollama"
    assert str(capture.requests[0].url) == "http://gpu-box:11434/v1/chat/completions"


async def test_a_local_profile_uses_its_key_variable_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-0123")
    capture = Capture()
    await build("vllm", capture, api_key=None).complete(REQUEST)
    assert capture.requests[0].headers["authorization"] == "Bearer vllm-secret-0123"


def test_a_hosted_profile_without_its_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="GROQ_API_KEY") as caught:
        provider_from_config(ModelConfig("groq", "llama-3.3-70b-versatile"))
    assert caught.value.provider == "groq"


async def test_model_config_names_a_profile_through_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_from_env_0123456789")
    capture = Capture()
    async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as client:
        provider = provider_from_config(
            ModelConfig(provider="Groq", model="llama-3.3-70b-versatile"), http_client=client
        )
        response = await provider.complete(REQUEST)
    assert isinstance(provider, OpenAICompatibleProvider)
    assert response.provider == "groq"
    assert capture.requests[0].headers["authorization"] == "Bearer gsk_from_env_0123456789"
    assert str(capture.requests[0].url) == EXPECTED["groq"][0]


async def test_errors_carry_the_profile_name() -> None:
    denied = httpx.Response(401, headers=JSON, content=error_body("openai", 401, "bad key"))
    capture = Capture(denied)
    with pytest.raises(AuthenticationError) as caught:
        await build("xai", capture).complete(REQUEST)
    assert caught.value.provider == "xai"
    assert len(capture.requests) == 1  # a static key is not sent again


async def test_extra_headers_of_a_profile_go_on_every_request() -> None:
    profile = Profile(
        name="openrouter",
        base_url="https://openrouter.ai/api/v1",
        env_keys=("OPENROUTER_API_KEY",),
        headers={"HTTP-Referer": "https://example.org", "X-Title": "Ashford"},
    )
    capture = Capture()
    await build("openrouter", capture, profile=profile).complete(REQUEST)
    headers = capture.requests[0].headers
    assert headers["http-referer"] == "https://example.org"
    assert headers["x-title"] == "Ashford"


async def test_a_base_url_option_overrides_the_profile() -> None:
    capture = Capture()
    await build("groq", capture, base_url="http://127.0.0.1:9/v1").complete(REQUEST)
    assert str(capture.requests[0].url) == "http://127.0.0.1:9/v1/chat/completions"


def test_a_config_for_another_provider_is_refused() -> None:
    profile = BUILTIN_PROFILES["groq"]
    with pytest.raises(ValueError, match="'groq'"):
        OpenAICompatibleProvider(ModelConfig("mistral", "m"), profile=profile, api_key=KEY)


def test_an_unknown_profile_is_a_config_error_listing_the_builtin_ones() -> None:
    with pytest.raises(ConfigError, match="groq, mistral"):
        OpenAICompatibleProvider(ModelConfig("acme", "m"), api_key=KEY)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Acme", "base_url": "https://a.test", "env_keys": ("K",)}, "lower-case"),
        ({"name": "acme", "base_url": "ftp://a.test", "env_keys": ("K",)}, "http"),
        ({"name": "acme", "base_url": "https://a.test"}, "env_keys"),
        (
            {
                "name": "acme",
                "base_url": "https://a.test",
                "env_keys": ("K",),
                "headers": {"Authorization": "Bearer x"},
            },
            "credential",
        ),
    ],
)
def test_a_bad_profile_is_refused_naming_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Profile(**fields)


TOML = """
[model]
provider = "acme"
model = "acme-large"

[provider]
base_url = "{url}"

[profiles.acme]
base_url = "https://llm.acme.example/v1"
env_keys = ["ACME_API_KEY"]
otel_provider_name = "acme_ai"
max_tokens_field = "max_completion_tokens"
stream_usage = false
"""


async def test_a_profile_declared_in_toml_needs_no_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", "acme-key-0123456789")
    config = StackConfig.from_toml(TOML.format(url="https://llm.acme.example/v1"))
    capture = Capture(
        httpx.Response(200, headers=SSE, content="".join(sse_events("openai", ["Hi"])))
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as client:
        provider = provider_from_config(
            config.model, registry=config.registry(), http_client=client, **config.provider
        )
        events = [event async for event in provider.stream(REQUEST)]
    assert provider.info.name == "acme"
    assert provider.info.otel_provider_name == "acme_ai"
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.provider == "acme"
    assert str(capture.requests[0].url) == "https://llm.acme.example/v1/chat/completions"
    assert capture.requests[0].headers["authorization"] == "Bearer acme-key-0123456789"
    body = capture.body()
    assert body["max_completion_tokens"] == 50
    assert "stream_options" not in body


def test_a_misspelt_profile_field_fails_when_the_file_is_read() -> None:
    text = TOML.format(url="https://x.test/v1").replace("env_keys", "env_key")
    with pytest.raises(ConfigError, match="env_key"):
        StackConfig.from_toml(text)


def test_a_toml_profile_is_decoded_into_the_profile_struct() -> None:
    config = StackConfig.from_toml(TOML.format(url="https://x.test/v1"))
    factory = config.registry()["acme"]
    provider = factory(config.model, api_key=KEY)
    assert isinstance(provider, OpenAICompatibleProvider)
    assert provider.profile == msgspec.convert(
        {
            "name": "acme",
            "base_url": "https://llm.acme.example/v1",
            "env_keys": ["ACME_API_KEY"],
            "otel_provider_name": "acme_ai",
            "max_tokens_field": "max_completion_tokens",
            "stream_usage": False,
        },
        Profile,
    )


def test_complete_command_runs_a_toml_profile_against_the_fake_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from ashford_llm.cli import main
    from ashford_llm.testing.fake_server import FakeProviderServer

    monkeypatch.setenv("ACME_API_KEY", "acme-key-0123456789")
    server = FakeProviderServer(api_key="acme-key-0123456789")

    async def run() -> int:
        async with server.run() as running:
            path = tmp_path / "acme.toml"
            path.write_text(TOML.format(url=running.base_url("openai")))
            return await asyncio.to_thread(main, ["complete", "Say hi", "--config", str(path)])

    assert asyncio.run(run()) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "Say hi"
    assert captured.err.startswith("acme/acme-large:")


async def test_reasoning_on_a_max_tokens_profile_is_refused_before_sending() -> None:
    from ashford_llm import InvalidRequestError, ReasoningConfig

    capture = Capture()
    request = CompletionRequest([ChatMessage.user("Hi")], reasoning=ReasoningConfig(effort="low"))
    with pytest.raises(InvalidRequestError, match="profile") as caught:
        await build("together", capture).complete(request)
    assert caught.value.provider == "together"
    assert capture.requests == []


async def test_reasoning_on_a_max_completion_tokens_profile_sends_the_effort() -> None:
    from ashford_llm import ReasoningConfig

    capture = Capture()
    request = CompletionRequest([ChatMessage.user("Hi")], reasoning=ReasoningConfig(effort="low"))
    await build("groq", capture).complete(request)
    assert capture.body()["reasoning_effort"] == "low"
