"""The recommended stack (README "Composing a stack") over Azure OpenAI and a profile.

Tracing, Retry, RateLimit, Timeout and JsonValidation run over the fake server's Azure routes
(both URL styles, key and Entra-style bearer) and over the groq profile pointed at its OpenAI
routes, through injected faults, complete and streamed: the answer is decoded, the retries
are the faults', and the span names the provider as the semantic conventions do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    ContentFilterError,
    LLMProvider,
    ModelConfig,
    StreamEnd,
    provider_from_config,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.providers import StaticCredentials
from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server import Fault, canned
from ashford_llm.testing.fake_server.azure import FILTER_COMPLETION, FILTER_PROMPT

KEY = "stack-key-0123456789"


class Ticket(msgspec.Struct, frozen=True):
    label: str
    urgent: bool


ANSWER = '{"label": "billing", "urgent": true}'


def request(text: str = "I was charged twice this month") -> CompletionRequest:
    return CompletionRequest(
        [ChatMessage.system("Label the support ticket."), ChatMessage.user(text)]
    )


def stack(exporter: InMemorySpanExporter) -> ClientBuilder:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(Retry, max_retries=4, base_delay=0.0, max_delay=0.0)
        .use(RateLimit, requests_per_minute=6000, max_concurrency=4)
        .use(Timeout, total=10)
        .use(JsonValidation, schema=Ticket)
    )


Terminal = Callable[[FakeProviderServer, Any], LLMProvider]


def azure_v1(server: FakeProviderServer, client: Any) -> LLMProvider:
    return provider_from_config(
        ModelConfig("azure", "gpt4o-prod"),
        endpoint=server.base_url("azure"),
        api_key=KEY,
        http_client=client,
    )


def azure_deployments_bearer(server: FakeProviderServer, client: Any) -> LLMProvider:
    return provider_from_config(
        ModelConfig("azure", "gpt4o-prod"),
        endpoint=server.base_url("azure"),
        api_style="deployments",
        credentials=StaticCredentials(KEY),
        http_client=client,
    )


def groq(server: FakeProviderServer, client: Any) -> LLMProvider:
    return provider_from_config(
        ModelConfig("groq", "llama-3.3-70b-versatile"),
        base_url=server.base_url("openai"),
        api_key=KEY,
        http_client=client,
    )


TERMINALS: dict[str, tuple[Terminal, str, str]] = {
    "azure-v1": (azure_v1, "azure", "azure.ai.openai"),
    "azure-deployments-bearer": (azure_deployments_bearer, "azure", "azure.ai.openai"),
    "groq": (groq, "groq", "groq"),
}


@asynccontextmanager
async def built(
    terminal: Terminal, server: FakeProviderServer, exporter: InMemorySpanExporter
) -> AsyncIterator[LLMProvider]:
    async with (
        httpx.AsyncClient(transport=server.transport()) as client,
        stack(exporter).build(terminal(server, client)) as llm,
    ):
        yield llm


async def call(llm: LLMProvider, req: CompletionRequest, *, stream: bool) -> CompletionResponse:
    if not stream:
        return await llm.complete(req)
    final = None
    async for event in llm.stream(req):
        if isinstance(event, StreamEnd):
            final = event.response
    assert final is not None
    return final


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("name", list(TERMINALS))
async def test_the_recommended_stack_survives_faults(name: str, stream: bool) -> None:
    terminal, provider, otel = TERMINALS[name]
    faults = [Fault.rate_limit, Fault.server_error, Fault.malformed_json, None]
    server = FakeProviderServer(api_key=KEY, answer=canned(ANSWER), script=faults, retry_after=0)
    exporter = InMemorySpanExporter()
    async with built(terminal, server, exporter) as llm:
        response = await call(llm, request(), stream=stream)
    assert response.parsed == Ticket(label="billing", urgent=True)
    assert response.provider == provider
    assert response.attempts == 4
    assert server.stats.requests == 4
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.provider.name"] == otel
    assert attributes["server.address"] == "fake-llm.test"
    assert len(span.events) == 3  # one retry event per fault


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("marker", [FILTER_PROMPT, FILTER_COMPLETION])
async def test_azures_content_filter_is_fatal_through_the_stack(marker: str, stream: bool) -> None:
    server = FakeProviderServer(api_key=KEY, answer=canned(ANSWER))
    exporter = InMemorySpanExporter()
    async with built(azure_v1, server, exporter) as llm:
        with pytest.raises(ContentFilterError) as caught:
            await call(llm, request(f"Something {marker}"), stream=stream)
    assert caught.value.provider == "azure"
    assert caught.value.filter_results
    assert caught.value.attempts == 1
    assert server.stats.requests == 1  # Retry did not repeat a fatal error
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {})["error.type"] == "ContentFilterError"
