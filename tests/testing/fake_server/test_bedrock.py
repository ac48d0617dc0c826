"""The fake server's Bedrock Converse: SigV4 checked with botocore, frames, faults, the stack."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest
from botocore.credentials import Credentials

from ashford_llm import (
    CachePoint,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    DocumentPart,
    InvalidRequestError,
    LLMError,
    MidStreamError,
    ModelConfig,
    PermissionDeniedError,
    ReasoningConfig,
    StreamEnd,
    TextDelta,
    provider_from_config,
)
from ashford_llm.errors import ServerError
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.providers.bedrock import BedrockProvider
from ashford_llm.testing.fake_server import STREAM_ONLY, FakeProviderServer, Fault
from ashford_llm.testing.fake_server.bedrock import TEST_ACCESS_KEY, TEST_REGION, TEST_SECRET_KEY
from ashford_llm.testing.fake_server.evidence import (
    index_records,
    note_retry,
    tag_attempt,
    track_call,
    unexplained,
)

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TEXT = "one two three four five six"
KEYS = Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY)


def bedrock(
    server: FakeProviderServer, client: httpx.AsyncClient | None = None, **options: Any
) -> BedrockProvider:
    options.setdefault("aws_credentials", KEYS)
    return BedrockProvider(
        ModelConfig("bedrock", MODEL, max_output_tokens=4000),
        region=TEST_REGION,
        base_url=server.base_url("bedrock"),
        http_client=client or httpx.AsyncClient(transport=server.transport()),
        **options,
    )


async def test_a_signed_request_is_answered_whole_and_streamed() -> None:
    server = FakeProviderServer()
    provider = bedrock(server)
    request = CompletionRequest([ChatMessage.user(TEXT)])
    response = await provider.complete(request)
    assert (response.content, response.input_tokens, response.output_tokens) == (TEXT, 6, 6)
    events = [event async for event in provider.stream(request)]
    assert len([e for e in events if isinstance(e, TextDelta)]) == 6
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == TEXT
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.request_id == "req_fake00000002"
    assert [r.vendor for r in server.stats.records] == ["bedrock", "bedrock"]


async def test_reasoning_comes_back_first_with_its_signature() -> None:
    server = FakeProviderServer()
    request = CompletionRequest(
        [ChatMessage.user("Why")], reasoning=ReasoningConfig(budget_tokens=1024, include_text=True)
    )
    response = await bedrock(server).complete(request)
    assert response.reasoning_text == "The request asks about: Why"
    assert response.parts[0].signature  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("credentials", "error_type"),
    [
        (Credentials(TEST_ACCESS_KEY, "a-wrong-secret"), "InvalidSignatureException"),
        (Credentials("AKIDUNKNOWN000000000", TEST_SECRET_KEY), "UnrecognizedClientException"),
    ],
)
async def test_a_bad_signature_or_unknown_key_is_refused_with_403(
    credentials: Credentials, error_type: str
) -> None:
    server = FakeProviderServer()
    with pytest.raises(PermissionDeniedError) as caught:
        await bedrock(server, aws_credentials=credentials).complete(
            CompletionRequest([ChatMessage.user("x")])
        )
    assert (caught.value.status, caught.value.error_type) == (403, error_type)


async def test_an_unsigned_request_is_missing_its_authentication_token() -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(
            f"{server.base_url('bedrock')}/model/{MODEL}/converse",
            json={"messages": [{"role": "user", "content": [{"text": "x"}]}]},
        )
    assert reply.status_code == 403
    assert reply.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException:")


async def test_a_bedrock_api_key_is_checked_like_other_keys() -> None:
    server = FakeProviderServer(api_key="ABSKtheright0key0000000")
    request = CompletionRequest([ChatMessage.user("hi")])
    async with server.run() as running, httpx.AsyncClient() as client:
        for key, ok in (("ABSKtheright0key0000000", True), ("ABSKthewrong0key0000000", False)):
            provider = BedrockProvider(
                ModelConfig("bedrock", MODEL),
                region=TEST_REGION,
                api_key=key,
                base_url=running.base_url("bedrock"),
                http_client=client,
            )
            if ok:
                assert (await provider.complete(request)).content == "hi"
            else:
                with pytest.raises(PermissionDeniedError):
                    await provider.complete(request)


async def test_an_unknown_operation_is_not_found() -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(f"{server.base_url('bedrock')}/model/{MODEL}/invoke", json={})
    assert reply.status_code == 404


async def test_a_document_name_converse_refuses_is_a_validation_exception() -> None:
    server = FakeProviderServer()
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Read"},
                    {
                        "document": {
                            "format": "pdf",
                            "name": "a.pdf",
                            "source": {"bytes": "JVBERg=="},
                        }
                    },
                ],
            }
        ]
    }
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(
            f"{server.base_url('bedrock')}/model/{MODEL}/converse",
            json=body,
            headers={"authorization": "Bearer ABSKanykey000000000000"},
        )
    assert reply.status_code == 400
    assert reply.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert "document.name" in reply.json()["message"]


async def test_the_providers_document_names_pass_the_servers_check() -> None:
    server = FakeProviderServer()
    document = DocumentPart(data=b"%PDF-1.7 x", name="Q3 report.v2 (final).pdf")
    response = await bedrock(server).complete(
        CompletionRequest([ChatMessage.user("Read", document)])
    )
    assert server.stats.records[0].ok
    assert response.input_tokens == 1 + 100  # one word and one attachment


async def test_tool_blocks_without_tool_config_are_refused_by_the_server() -> None:
    server = FakeProviderServer()
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "x"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}],
            },
        ]
    }
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(
            f"{server.base_url('bedrock')}/model/{MODEL}/converse",
            json=body,
            headers={"authorization": "Bearer ABSKanykey000000000000"},
        )
    assert reply.status_code == 400
    assert "toolConfig" in reply.json()["message"]


async def test_a_repeated_cache_point_prefix_is_a_cache_read() -> None:
    server = FakeProviderServer()
    provider = bedrock(server)
    request = CompletionRequest(
        [ChatMessage.system("A long shared instruction", CachePoint()), ChatMessage.user("q")]
    )
    first = await provider.complete(request)
    second = await provider.complete(request)
    assert (first.cache_write_tokens, first.cached_input_tokens) == (4, 0)
    assert (second.cache_write_tokens, second.cached_input_tokens) == (0, 4)
    assert second.input_tokens == first.input_tokens == 5


FAULTS_BY_MODE = [(fault, stream) for fault in Fault for stream in (False, True)]


@pytest.mark.parametrize(("fault", "stream"), FAULTS_BY_MODE)
async def test_each_fault_makes_an_outcome_its_table_row_allows(fault: Fault, stream: bool) -> None:
    server = FakeProviderServer(
        script=[fault], retry_after=0.0, slow_seconds=0.01, stall_seconds=0.5
    )
    async with (
        server.run() as running,
        httpx.AsyncClient(event_hooks={"request": [tag_attempt]}) as client,
    ):
        terminal = BedrockProvider(
            ModelConfig("bedrock", MODEL),
            region=TEST_REGION,
            aws_credentials=KEYS,
            base_url=running.base_url("bedrock"),
            http_client=client,
        )
        stack = Retry(
            Timeout(terminal, idle=0.1), max_retries=1, base_delay=0.0, on_retry=note_retry
        )
        request = CompletionRequest([ChatMessage.user(TEXT)])
        with track_call("1") as trace:
            try:
                if stream:
                    async for event in stack.stream(request):
                        assert not isinstance(event, StreamEnd) or event.response.content
                else:
                    await stack.complete(request)
            except LLMError as error:
                trace.finish(error)
            else:
                trace.finish(None)
    injected = None if fault in STREAM_ONLY and not stream else fault
    assert server.stats.records[0].fault == injected
    assert unexplained(trace, index_records(server.stats.records)) == []


class Ticket(msgspec.Struct, frozen=True):
    label: str
    urgent: bool


def ticket_json(request: Any) -> str:
    return json.dumps({"label": "billing", "urgent": "refund" in request.last_user_text})


async def test_the_recommended_stack_runs_over_bedrock_against_the_fake_server() -> None:
    # README "Composing a stack", over a SigV4-signed Bedrock provider on a loopback socket,
    # with a rate limit, a 5xx and a mid-stream error to get through.
    server = FakeProviderServer(
        answer=ticket_json,
        script=[Fault.rate_limit, None, Fault.server_error, None, None, Fault.mid_stream_error],
        retry_after=0.0,
    )
    stack_builder = (
        ClientBuilder()
        .use(Tracing)
        .use(Retry, max_retries=4, base_delay=0.0)
        .use(RateLimit, requests_per_minute=500, max_concurrency=16)
        .use(Timeout, total=30)
        .use(JsonValidation, schema=Ticket)
    )
    async with server.run() as running, httpx.AsyncClient() as client:
        terminal = provider_from_config(
            ModelConfig("bedrock", MODEL),
            region=TEST_REGION,
            aws_credentials=KEYS,
            base_url=running.base_url("bedrock"),
            http_client=client,
        )
        stack = stack_builder.build(terminal)
        assert repr(stack).endswith(f"BedrockProvider(model={MODEL!r}, region='us-east-1')")
        request = CompletionRequest(
            [ChatMessage.system("Label the support ticket."), ChatMessage.user("I want a refund")],
            json_mode=True,
        )
        first = await stack.complete(request)
        second = await stack.complete(request)
        streamed = [event async for event in stack.stream(request)]
        with pytest.raises(MidStreamError) as broken:
            async for _ in stack.stream(request):
                pass
    assert first.parsed == Ticket("billing", True)
    assert (first.attempts, second.attempts) == (2, 2)
    final = streamed[-1]
    assert isinstance(final, StreamEnd)
    assert final.response.parsed == Ticket("billing", True)
    assert isinstance(broken.value.__cause__, ServerError)
    assert broken.value.partial_text
    assert server.stats.successes == 3


async def test_a_request_bedrock_refuses_fails_once_and_is_not_retried() -> None:
    server = FakeProviderServer()
    stack = Retry(bedrock(server), max_retries=3, base_delay=0.0)
    bad = CompletionRequest(
        [ChatMessage.user("x")], vendor_options={"inferenceConfig": {"temperature": 3}}
    )
    with pytest.raises(InvalidRequestError, match="temperature"):
        await stack.complete(bad)
    assert server.stats.requests == 1


class RawBody:
    """The raw body botocore reads a response from, in small pieces."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        for start in range(0, len(self.data), 50):
            yield self.data[start : start + 50]


def parsed_by_botocore(operation: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Returns what botocore's bedrock-runtime client parses from the fake server's body."""
    import botocore.session
    from botocore.awsrequest import AWSResponse

    client = botocore.session.Session().create_client(
        "bedrock-runtime",
        region_name=TEST_REGION,
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"content-type": content_type}, RawBody(body))

    client.meta.events.register("before-send", answer)
    call = getattr(client, operation)
    result: dict[str, Any] = call(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}]
    )
    return result


@pytest.mark.parametrize("reasoning", [False, True])
async def test_botocore_parses_the_fake_servers_answers_and_streams(reasoning: bool) -> None:
    from ashford_llm.testing.fake_server.answers import AnswerRequest, echo, make_answer
    from ashford_llm.testing.fake_server.bedrock import FORMAT

    request = AnswerRequest(
        vendor="bedrock", model=MODEL, messages=(("user", TEXT),), reasoning=reasoning
    )
    answer = make_answer(request, echo)
    whole = parsed_by_botocore("converse", "application/json", FORMAT.body(answer, request, "1"))
    blocks = whole["output"]["message"]["content"]
    assert blocks[-1] == {"text": TEXT}
    assert whole["usage"]["outputTokens"] == answer.output_tokens
    plan = FORMAT.stream(answer, request, "1")
    frames = b"".join((*plan.head, *plan.chunks, *plan.tail))
    streamed = parsed_by_botocore("converse_stream", plan.content_type, frames)
    events = list(streamed["stream"])
    texts = [
        e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
    ]
    assert "".join(texts) == TEXT
    assert [next(iter(e)) for e in events[-2:]] == ["messageStop", "metadata"]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == answer.output_tokens
    thoughts = [
        e["contentBlockDelta"]["delta"]["reasoningContent"]
        for e in events
        if "reasoningContent" in e.get("contentBlockDelta", {}).get("delta", {})
    ]
    assert bool(thoughts) is reasoning


def test_botocore_raises_the_fake_servers_stream_exception() -> None:
    from botocore.exceptions import EventStreamError

    from ashford_llm.testing.fake_server.bedrock import FORMAT

    streamed = parsed_by_botocore(
        "converse_stream", "application/vnd.amazon.eventstream", FORMAT.stream_error()
    )
    with pytest.raises(EventStreamError, match="modelStreamErrorException"):
        list(streamed["stream"])
