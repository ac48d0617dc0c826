"""Our own providers against the fake server: its bodies and faults parse as the real ones do."""

import importlib

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, StreamEnd, TextDelta
from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    NetworkError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.testing import FakeProviderServer, Fault

PROVIDERS = {
    "openai": ("ashford_llm.providers.openai", "OpenAIProvider", "openai"),
    "anthropic": ("ashford_llm.providers.anthropic", "AnthropicProvider", "anthropic"),
    "gemini": ("ashford_llm.providers.google", "GoogleProvider", "google"),
}
REQUEST = CompletionRequest([ChatMessage.user("alpha beta gamma delta")])


def provider_for(vendor: str, server: FakeProviderServer, client: httpx.AsyncClient) -> object:
    module_name, class_name, name = PROVIDERS[vendor]
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    return cls(
        ModelConfig(provider=name, model="model-1"),
        api_key="test-key",
        base_url=server.base_url(vendor),
        http_client=client,
    )


@pytest.fixture(params=list(PROVIDERS))
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_provider_completes_and_streams_what_the_server_sent(vendor: str) -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = provider_for(vendor, server, client)
        response = await provider.complete(REQUEST)  # type: ignore[attr-defined]
        events = [event async for event in provider.stream(REQUEST)]  # type: ignore[attr-defined]
    assert (response.content, response.input_tokens, response.output_tokens) == (
        "alpha beta gamma delta",
        4,
        4,
    )
    deltas = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert deltas == response.content
    assert isinstance(events[-1], StreamEnd)
    assert [record.text for record in server.stats.records] == [response.content, deltas]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.rate_limit, RateLimitError),
        (Fault.quota_exhausted, QuotaExhaustedError),
        (Fault.overloaded, ServerError),
        (Fault.html_error, ServerError),
        (Fault.malformed_json, ResponseDecodeError),
        (Fault.dropped_connection, NetworkError),
    ],
)
async def test_provider_classifies_each_fault(
    vendor: str, fault: Fault, error: type[Exception]
) -> None:
    server = FakeProviderServer(script=[fault], retry_after=2)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = provider_for(vendor, server, client)
        with pytest.raises(error) as caught:
            await provider.complete(REQUEST)  # type: ignore[attr-defined]
    if fault is Fault.rate_limit:
        assert caught.value.retry_after == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.cut_stream, ResponseDecodeError),
        (Fault.mid_stream_error, ServerError),
        (Fault.malformed_json, ResponseDecodeError),
    ],
)
async def test_provider_stream_fails_on_stream_faults(
    vendor: str, fault: Fault, error: type[Exception]
) -> None:
    server = FakeProviderServer(script=[fault])
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = provider_for(vendor, server, client)
        with pytest.raises(error):
            _ = [event async for event in provider.stream(REQUEST)]  # type: ignore[attr-defined]
