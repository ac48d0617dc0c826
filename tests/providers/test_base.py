"""HTTPProvider's shared behaviour, seen through one vendor (OpenAI's wire format)."""

import json

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.providers import OpenAIProvider
from ashford_llm.providers._http import DEFAULT_TIMEOUT

HELLO = CompletionRequest(messages=(ChatMessage.user("hi"),))
CONFIG = ModelConfig(provider="openai", model="gpt-4o-mini")
KEY = "sk-test-1234567890abcdef"


def echo_timeout(request: httpx.Request) -> httpx.Response:
    """Answers with the request's timeout settings as the completion's text."""
    text = json.dumps(request.extensions["timeout"], sort_keys=True)
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"content": text}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        },
    )


async def timeout_sent(client: httpx.AsyncClient, **options: object) -> dict[str, float]:
    provider = OpenAIProvider(CONFIG, api_key=KEY, http_client=client, **options)  # type: ignore[arg-type]
    response = await provider.complete(HELLO)
    await client.aclose()
    sent: dict[str, float] = json.loads(response.content)
    return sent


async def test_a_shared_client_with_httpx_default_timeout_gets_ours() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(echo_timeout))
    assert await timeout_sent(client) == DEFAULT_TIMEOUT.as_dict()


async def test_a_shared_client_with_its_own_timeout_keeps_it() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(echo_timeout), timeout=42.0)
    assert await timeout_sent(client) == httpx.Timeout(42.0).as_dict()


@pytest.mark.parametrize("given", [7.0, httpx.Timeout(9.0, connect=2.0)])
async def test_an_explicit_timeout_wins_over_a_shared_client(
    given: float | httpx.Timeout,
) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(echo_timeout), timeout=42.0)
    expected = given if isinstance(given, httpx.Timeout) else httpx.Timeout(given)
    assert await timeout_sent(client, timeout=given) == expected.as_dict()
