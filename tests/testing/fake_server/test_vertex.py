"""The fake server's Vertex AI paths: bearer tokens, Claude's body rules, the fault kinds, and
the recommended stack (README "Composing a stack") over both Vertex providers on a socket."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import ChatMessage, ClientBuilder, CompletionRequest, ModelConfig, StreamEnd
from ashford_llm.errors import (
    AuthenticationError,
    LLMError,
    NetworkError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.providers.vertex import vertex_provider
from ashford_llm.testing import FakeProviderServer, Fault

TOKEN = "ya29.fake-server-token"
MODELS = {"google": "gemini-2.5-flash", "anthropic": "claude-sonnet-4-5@20250929"}
REQUEST = CompletionRequest([ChatMessage.user("alpha beta gamma delta")])
ROOT = "http://fake-llm.test"
GEMINI_PATH = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash"
CLAUDE_PATH = "/v1/projects/p/locations/global/publishers/anthropic/models/claude-x@1"


@pytest.fixture(params=list(MODELS))
def publisher(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(
    server: FakeProviderServer, client: httpx.AsyncClient, publisher: str, **options: Any
) -> Any:
    options.setdefault("access_token", TOKEN)
    return vertex_provider(
        ModelConfig("vertex", MODELS[publisher], max_output_tokens=64),
        project="p",
        location="us-central1",
        base_url=server.base_url("vertex"),
        http_client=client,
        **options,
    )


async def test_both_publishers_complete_and_stream(publisher: str) -> None:
    server = FakeProviderServer(api_key=TOKEN)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = make(server, client, publisher)
        response = await provider.complete(REQUEST)
        events = [event async for event in provider.stream(REQUEST)]
    assert (response.content, response.provider) == ("alpha beta gamma delta", "vertex")
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.content == "alpha beta gamma delta"
    stats = server.stats
    assert stats.by_vendor == {"vertex": 2}
    assert [(r.model, r.stream, r.ok) for r in stats.records] == [
        (MODELS[publisher], False, True),
        (MODELS[publisher], True, True),
    ]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
@pytest.mark.parametrize("path", [f"{GEMINI_PATH}:generateContent", f"{CLAUDE_PATH}:rawPredict"])
async def test_a_missing_or_wrong_token_is_google_s_401(header: str | None, path: str) -> None:
    server = FakeProviderServer(api_key=TOKEN)
    headers = {"authorization": header} if header else {}
    async with httpx.AsyncClient(transport=server.transport(), base_url=ROOT) as client:
        reply = await client.post(path, headers=headers, content=b"{}")
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    reason = "ACCESS_TOKEN_EXPIRED" if header == "Bearer wrong-token" else "CREDENTIALS_MISSING"
    assert error["details"][0]["reason"] == reason


async def test_any_token_passes_when_the_server_has_none() -> None:
    server = FakeProviderServer()
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with httpx.AsyncClient(transport=server.transport(), base_url=ROOT) as client:
        reply = await client.post(
            f"{GEMINI_PATH}:generateContent", headers={"authorization": "Bearer any"}, json=body
        )
    assert reply.status_code == 200
    assert reply.json()["candidates"][0]["content"]["parts"][0]["text"] == "hi"


@pytest.mark.parametrize(
    ("body", "method", "message"),
    [
        ({"max_tokens": 9, "messages": []}, "rawPredict", "anthropic_version"),
        (
            {"anthropic_version": "2023-06-01", "max_tokens": 9, "messages": []},
            "rawPredict",
            "anthropic_version",
        ),
        (
            {"anthropic_version": "vertex-2023-10-16", "max_tokens": 9, "messages": []},
            "streamRawPredict",
            "does not suit streamRawPredict",
        ),
        (
            {"anthropic_version": "vertex-2023-10-16", "messages": [], "stream": True},
            "streamRawPredict",
            "invalid request body",
        ),
    ],
)
async def test_claude_bodies_are_checked_as_vertex_wants_them(
    body: dict[str, Any], method: str, message: str
) -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport(), base_url=ROOT) as client:
        reply = await client.post(
            f"{CLAUDE_PATH}:{method}", headers={"authorization": f"Bearer {TOKEN}"}, json=body
        )
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert message in reply.json()["error"]["message"]


async def test_claude_takes_the_model_from_the_path() -> None:
    server = FakeProviderServer()
    body = {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(transport=server.transport(), base_url=ROOT) as client:
        reply = await client.post(
            f"{CLAUDE_PATH}:rawPredict", headers={"authorization": "Bearer t"}, json=body
        )
    assert reply.status_code == 200
    assert server.stats.records[0].model == "claude-x@1"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/projects/p/locations/l/publishers/openai/models/m:generateContent",
        "/v1/projects/p/locations/l/publishers/google/models/m:rawPredict",
        "/v1/projects/p/locations/l/publishers/anthropic/models/m:generateContent",
        "/v1/projects/p/locations/l/publishers/google/models/:generateContent",
    ],
)
async def test_unknown_publishers_and_methods_are_404(path: str) -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport(), base_url=ROOT) as client:
        reply = await client.post(path, headers={"authorization": "Bearer t"}, content=b"{}")
    assert reply.status_code == 404
    assert server.stats.requests == 0


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.rate_limit, RateLimitError),
        (Fault.quota_exhausted, QuotaExhaustedError),
        (Fault.server_error, ServerError),
        (Fault.unavailable, ServerError),
        (Fault.overloaded, ServerError),
        (Fault.html_error, ServerError),
        (Fault.malformed_json, ResponseDecodeError),
    ],
)
async def test_status_faults_reach_the_caller_as_their_class(
    publisher: str, fault: Fault, cls: type[LLMError]
) -> None:
    server = FakeProviderServer(script=[fault])
    async with httpx.AsyncClient(transport=server.transport()) as client:
        with pytest.raises(cls) as caught:
            await make(server, client, publisher).complete(REQUEST)
    assert caught.value.provider == "vertex"


async def test_a_vertex_rate_limit_is_the_bare_429_without_a_delay(publisher: str) -> None:
    server = FakeProviderServer(script=[Fault.rate_limit])
    async with httpx.AsyncClient(transport=server.transport()) as client:
        with pytest.raises(RateLimitError) as caught:
            await make(server, client, publisher).complete(REQUEST)
    assert (caught.value.error_type, caught.value.retry_after) == ("RESOURCE_EXHAUSTED", None)


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.mid_stream_error, ServerError),
        (Fault.cut_stream, ResponseDecodeError),
    ],
)
async def test_stream_faults_reach_the_caller_as_their_class(
    publisher: str, fault: Fault, cls: type[LLMError]
) -> None:
    server = FakeProviderServer(script=[fault])
    async with httpx.AsyncClient(transport=server.transport()) as client:
        with pytest.raises(LLMError) as caught:
            async for _ in make(server, client, publisher).stream(REQUEST):
                pass
    assert isinstance(caught.value, cls), repr(caught.value)


async def test_a_dropped_connection_is_a_network_error(publisher: str) -> None:
    server = FakeProviderServer(script=[Fault.dropped_connection])
    async with server.run() as running, httpx.AsyncClient(timeout=5) as client:
        provider = vertex_provider(
            ModelConfig("vertex", MODELS[publisher]),
            project="p",
            access_token=TOKEN,
            base_url=running.base_url("vertex"),
            http_client=client,
        )
        with pytest.raises(NetworkError):
            await provider.complete(REQUEST)


async def test_a_wrong_token_is_an_authentication_error_after_one_try(publisher: str) -> None:
    server = FakeProviderServer(api_key=TOKEN)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        with pytest.raises(AuthenticationError):
            await make(server, client, publisher, access_token="ya29.wrong").complete(REQUEST)
    assert server.stats.requests == 1  # a static token is not sent again


class Ticket(msgspec.Struct, frozen=True):
    label: str
    urgent: bool


def ticket(_: Any) -> str:
    return '{"label": "billing", "urgent": true}'


async def test_the_recommended_stack_runs_over_both_vertex_providers_through_faults() -> None:
    """README's stack, over a socket: faults retried, answers parsed, one span per call."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    faults = [Fault.rate_limit, Fault.server_error, None, Fault.overloaded, Fault.unavailable, None]
    server = FakeProviderServer(api_key=TOKEN, answer=ticket, script=faults * 2, retry_after=0)
    request = CompletionRequest(
        [ChatMessage.system("Label the support ticket."), ChatMessage.user("I was charged twice")]
    )
    async with server.run() as running, httpx.AsyncClient(timeout=10) as client:
        for publisher in MODELS:
            provider = vertex_provider(
                ModelConfig("vertex", MODELS[publisher]),
                project="p",
                location="europe-west4",
                access_token=TOKEN,
                base_url=running.base_url("vertex"),
                http_client=client,
            )
            stack = (
                ClientBuilder()
                .use(Tracing, tracer_provider=tracer_provider)
                .use(Retry, max_retries=4, base_delay=0.0, max_delay=0.0)
                .use(RateLimit, requests_per_minute=500, max_concurrency=16)
                .use(Timeout, total=30)
                .use(JsonValidation, schema=Ticket)
                .build(provider)
            )
            async with stack:
                whole = await stack.complete(request)  # rate limit, server error, then ok
                final = None
                async for event in stack.stream(request):  # overloaded, unavailable, then ok
                    if isinstance(event, StreamEnd):
                        final = event.response
            assert whole.parsed == Ticket("billing", True)
            assert whole.attempts == 3
            assert final is not None
            assert final.parsed == Ticket("billing", True)
            assert final.attempts == 3
    assert server.stats.requests == 12
    finished = spans.get_finished_spans()
    assert len(finished) == 4
    for span in finished:
        attributes = dict(span.attributes or {})
        assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
        assert attributes["server.address"] == "127.0.0.1"
    models = {dict(span.attributes or {})["gen_ai.request.model"] for span in finished}
    assert models == set(MODELS.values())
