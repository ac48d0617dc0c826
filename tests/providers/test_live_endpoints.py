"""Calls Azure OpenAI and an OpenAI-compatible vendor for real; opt-in with `pytest -m live`.

Each case is skipped, naming the missing variables, unless its credentials are set:

- Azure: AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY, and the deployment to call in
  ASHFORD_LIVE_AZURE_DEPLOYMENT (a chat model deployed on the resource). The Entra ID case
  also needs ASHFORD_LIVE_AZURE_ENTRA=1 and a signed-in identity azure-identity can find
  (`az login`, a managed identity, or the AZURE_CLIENT_* variables) with the "Cognitive
  Services OpenAI User" role.
- Groq: GROQ_API_KEY; ASHFORD_LIVE_GROQ_MODEL picks the model (default llama-3.1-8b-instant,
  Groq's small production model).
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    LLMProvider,
    ModelConfig,
    StreamEnd,
    TextDelta,
    provider_from_config,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing

pytestmark = pytest.mark.live

QUESTION = [
    ChatMessage.system("You answer geography questions as JSON."),
    ChatMessage.user('Which city is the Eiffel Tower in? Answer as JSON {"city": "..."}.'),
]
BAD_KEY = "invalid-key-for-ashford-live-tests-0000"


class City(msgspec.Struct, frozen=True):
    city: str


def need(*names: str) -> None:
    """Skips the test unless every variable is set, naming the missing ones."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"set {', '.join(missing)} to run this live test")


def azure(**options: Any) -> LLMProvider:
    need("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "ASHFORD_LIVE_AZURE_DEPLOYMENT")
    deployment = os.environ["ASHFORD_LIVE_AZURE_DEPLOYMENT"]
    return provider_from_config(ModelConfig("azure", deployment, max_output_tokens=200), **options)


def groq(**options: Any) -> LLMProvider:
    need("GROQ_API_KEY")
    model = os.environ.get("ASHFORD_LIVE_GROQ_MODEL", "llama-3.1-8b-instant")
    return provider_from_config(ModelConfig("groq", model, max_output_tokens=200), **options)


PROVIDERS = {
    "azure-v1": lambda **o: azure(**o),
    "azure-deployments": lambda **o: azure(api_style="deployments", **o),
    "groq": lambda **o: groq(**o),
}


@pytest.mark.parametrize("name", list(PROVIDERS))
async def test_live_complete_and_stream(name: str) -> None:
    async with PROVIDERS[name]() as llm:
        request = CompletionRequest(QUESTION, json_mode=True)
        response = await llm.complete(request)
        assert "paris" in response.content.lower()
        assert response.provider == name.split("-")[0]
        assert response.input_tokens > 0
        texts, final = [], None
        async for event in llm.stream(request):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            elif isinstance(event, StreamEnd):
                final = event.response
    assert final is not None
    assert "".join(texts) == final.content
    assert final.output_tokens > 0  # the usage chunk arrived


@pytest.mark.parametrize("name", list(PROVIDERS))
async def test_live_recommended_stack_decodes_json(name: str) -> None:
    stack = (
        ClientBuilder()
        .use(Tracing)
        .use(Retry, max_retries=2)
        .use(RateLimit, requests_per_minute=30, max_concurrency=2)
        .use(Timeout, total=60)
        .use(JsonValidation, schema=City)
    )
    async with stack.build(PROVIDERS[name]()) as llm:
        response = await llm.complete(CompletionRequest(QUESTION))
    assert response.parsed.city.lower() == "paris"


@pytest.mark.parametrize("name", list(PROVIDERS))
async def test_live_bad_key_is_an_authentication_error(name: str) -> None:
    PROVIDERS[name]()  # skips without credentials
    async with PROVIDERS[name](api_key=BAD_KEY) as llm:
        with pytest.raises(AuthenticationError) as caught:
            await llm.complete(CompletionRequest(QUESTION))
    assert BAD_KEY not in str(caught.value)
    assert caught.value.provider == name.split("-")[0]


async def test_live_azure_with_an_entra_id_token() -> None:
    need("AZURE_OPENAI_ENDPOINT", "ASHFORD_LIVE_AZURE_DEPLOYMENT", "ASHFORD_LIVE_AZURE_ENTRA")
    from ashford_llm.providers import EntraIDCredentials

    entra = EntraIDCredentials.default()
    try:
        config = ModelConfig("azure", os.environ["ASHFORD_LIVE_AZURE_DEPLOYMENT"])
        async with provider_from_config(config, credentials=entra) as llm:
            response = await llm.complete(CompletionRequest(QUESTION, json_mode=True))
        assert "paris" in response.content.lower()
    finally:
        await entra.aclose()
