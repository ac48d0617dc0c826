import email.utils
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    ModelConfig,
    ReasoningPart,
    StreamEnd,
    TextDelta,
    TextPart,
)
from ashford_llm.errors import (
    AuthenticationError,
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    MissingCredentialsError,
    NetworkError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.middleware import Retry
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers import AnthropicProvider
from tests.providers.real_recordings import all_recordings, replay

URL = "https://api.anthropic.com/v1/messages"
KEY = "sk-ant-api03-test-key-0123456789"
CONFIG = ModelConfig("anthropic", "claude-sonnet-4-6", max_output_tokens=300)
HELLO = CompletionRequest([ChatMessage.user("Hello")])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def message(
    text: str = "Paris",
    *,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6-20261001",
        "content": blocks if blocks is not None else [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 3},
        "some_future_field": {"ignored": True},
    }


def error_body(error_type: str, text: str, **details: str) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": text}
    if details:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": "req_body_1"}


def sse(*events: tuple[str, dict[str, Any]], newline: str = "\n") -> bytes:
    return "".join(
        f"event: {name}{newline}data: {json.dumps(data)}   {newline}{newline}"
        for name, data in events
    ).encode()


def stream_events(*texts: str, stop_reason: str = "end_turn") -> list[tuple[str, dict[str, Any]]]:
    start_usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 4,
        "cache_read_input_tokens": 100,
        "output_tokens": 1,
    }
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_stream",
                    "model": "claude-sonnet-4-6-20261001",
                    "content": [],
                    "stop_reason": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
    ]
    for text in texts:
        delta = {"type": "text_delta", "text": text}
        events.append(("content_block_delta", {"type": "content_block_delta", "delta": delta}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 7, "cache_read_input_tokens": 90},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def event_stream(body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8", **(headers or {})},
        content=body,
    )


def provider(**options: Any) -> AnthropicProvider:
    options.setdefault("api_key", KEY)
    return AnthropicProvider(options.pop("config", CONFIG), **options)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


async def collect(p: LLMProvider, request: CompletionRequest = HELLO) -> list[Any]:
    return [event async for event in p.stream(request)]


# --- module-level fake handlers ------------------------------------------------------------


def answer_paris(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=message(), headers={"request-id": "req_header_1"})


def raise_read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


def raise_connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def reject_old_key(request: httpx.Request) -> httpx.Response:
    if request.headers["x-api-key"] == "sk-ant-rotated-key-999999":
        return answer_paris(request)
    return httpx.Response(401, json=error_body("authentication_error", "invalid x-api-key"))


class RotatingCredentials:
    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self) -> str:
        return KEY

    async def refresh(self) -> str:
        self.refreshes += 1
        return "sk-ant-rotated-key-999999"


# --- request mapping -------------------------------------------------------------------------


@respx.mock
async def test_complete_posts_to_messages_with_version_and_key_headers() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    headers = route.calls.last.request.headers
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert sent(route) == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Hello"}],
    }


@respx.mock
async def test_bearer_auth_and_api_version_are_options() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider(auth_header="bearer", api_version="2026-10-21").complete(HELLO)
    headers = route.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in headers
    assert headers["anthropic-version"] == "2026-10-21"


@respx.mock
async def test_system_messages_go_to_top_level_system_joined_by_blank_lines() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    request = CompletionRequest(
        [
            ChatMessage.system("Be brief."),
            ChatMessage.user("Hi"),
            ChatMessage.system("Answer in French."),
            ChatMessage.assistant("Bonjour"),
            ChatMessage.user("Capital?"),
        ]
    )
    await provider().complete(request)
    body = sent(route)
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Capital?"},
    ]


@respx.mock
async def test_consecutive_same_role_messages_become_one_turn_of_text_blocks() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    request = CompletionRequest(
        [ChatMessage.user("One"), ChatMessage.user("Two"), ChatMessage.user("Three")]
    )
    await provider().complete(request)
    assert sent(route)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "One"},
                {"type": "text", "text": "Two"},
                {"type": "text", "text": "Three"},
            ],
        }
    ]


@respx.mock
async def test_temperature_comes_from_request_else_config_and_is_omitted_when_none() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    warm = ModelConfig("anthropic", "claude-sonnet-4-6", temperature=0.7)
    await provider().complete(HELLO)
    await provider(config=warm).complete(HELLO)
    await provider(config=warm).complete(CompletionRequest([ChatMessage.user("x")], temperature=0))
    assert "temperature" not in sent(route, 0)
    assert sent(route, 1)["temperature"] == 0.7
    assert sent(route, 2)["temperature"] == 0


@respx.mock
async def test_version_2026_10_21_never_sends_temperature() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    p = provider(api_version="2026-10-21")
    await p.complete(CompletionRequest([ChatMessage.user("x")], temperature=0.2))
    assert "temperature" not in sent(route)


async def test_temperature_above_one_is_rejected_before_sending() -> None:
    with pytest.raises(ValueError, match="temperature 0 to 1"):
        provider(config=ModelConfig("anthropic", "claude-sonnet-4-6", temperature=1.5))
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(side_effect=answer_paris)
        with pytest.raises(InvalidRequestError, match="temperature 0 to 1"):
            await provider().complete(CompletionRequest([ChatMessage.user("x")], temperature=1.2))
        assert route.call_count == 0


@respx.mock
async def test_max_tokens_comes_from_request_else_config() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(CompletionRequest([ChatMessage.user("x")], max_tokens=42))
    await provider().complete(HELLO)
    assert sent(route, 0)["max_tokens"] == 42
    assert sent(route, 1)["max_tokens"] == 300


@respx.mock
async def test_stop_sequences_are_sent_when_given() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(CompletionRequest([ChatMessage.user("x")], stop=["</a>", "END"]))
    assert sent(route)["stop_sequences"] == ["</a>", "END"]


@respx.mock
async def test_json_schema_uses_native_structured_outputs_with_closed_objects() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "where": {"type": "object", "properties": {"country": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {}}},
        },
        "required": ["city"],
    }
    await provider().complete(CompletionRequest([ChatMessage.user("x")], json_schema=schema))
    body = sent(route)
    sent_schema = body["output_config"]["format"]["schema"]
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert sent_schema["additionalProperties"] is False
    assert sent_schema["properties"]["where"]["additionalProperties"] is False
    assert sent_schema["properties"]["tags"]["items"]["additionalProperties"] is False
    assert sent_schema["required"] == ["city"]
    assert "additionalProperties" not in schema  # the caller's schema is not changed
    assert "system" not in body


@respx.mock
async def test_json_schema_on_a_model_before_structured_outputs_is_a_system_instruction() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    old = ModelConfig("anthropic", "claude-sonnet-4-0")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    request = CompletionRequest(
        [ChatMessage.system("Be exact."), ChatMessage.user("x")], json_schema=schema
    )
    await provider(config=old).complete(request)
    body = sent(route)
    assert "output_config" not in body
    assert body["system"].startswith("Be exact.\n\nRespond with a single valid JSON object")
    assert '{"type":"object","properties":{"city":{"type":"string"}}}' in body["system"]


@respx.mock
async def test_json_mode_without_schema_is_a_system_instruction() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(CompletionRequest([ChatMessage.user("x")], json_mode=True))
    body = sent(route)
    assert "output_config" not in body
    assert "single valid JSON object" in body["system"]
    assert body["messages"][-1]["role"] == "user"  # never an assistant prefill


@respx.mock
async def test_structured_outputs_option_overrides_model_detection() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    schema = {"type": "object", "properties": {}}
    request = CompletionRequest([ChatMessage.user("x")], json_schema=schema)
    await provider(structured_outputs=False).complete(request)
    old = ModelConfig("anthropic", "claude-3-5-haiku-latest")
    await provider(config=old, structured_outputs=True).complete(request)
    assert "output_config" not in sent(route, 0)
    assert "output_config" in sent(route, 1)


@pytest.mark.parametrize(
    ("model", "native"),
    [
        # Dated ids: the date must not be read as a minor version.
        ("claude-3-5-haiku-20241022", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4-20250514", False),
        ("claude-opus-4-1-20250805", False),  # structured outputs were only a beta there
        ("claude-sonnet-4-5-20250929", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-opus-4-5-20251101", True),
        # Aliases.
        ("claude-3-5-haiku-latest", False),
        ("claude-2.1", False),
        ("claude-instant-1.2", False),
        ("claude-sonnet-4-0", False),
        ("claude-opus-4-1", False),
        ("claude-haiku-4-5", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-5", True),
        # No Claude version in the name (a gateway's alias): taken as current.
        ("house-model", True),
    ],
)
def test_structured_outputs_are_detected_from_alias_and_dated_model_ids(
    model: str, native: bool
) -> None:
    assert provider(config=ModelConfig("anthropic", model)).dialect.structured_outputs is native


@respx.mock
async def test_a_dated_model_before_structured_outputs_gets_the_schema_as_an_instruction() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    request = CompletionRequest([ChatMessage.user("x")], json_schema=schema)
    for model in ("claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929"):
        await provider(config=ModelConfig("anthropic", model)).complete(request)
    assert "output_config" not in sent(route, 0)
    assert "single valid JSON object" in sent(route, 0)["system"]
    assert sent(route, 1)["output_config"]["format"]["type"] == "json_schema"


async def test_only_system_messages_are_rejected_before_sending() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(side_effect=answer_paris)
        with pytest.raises(InvalidRequestError, match="at least one user or assistant"):
            await provider().complete(CompletionRequest([ChatMessage.system("Rules")]))
        assert route.call_count == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"auth_header": "basic"}, ValueError),
        ({"api_version": ""}, ValueError),
        ({"structured_outputs": "yes"}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"base_url": "api.anthropic.com"}, ValueError),
    ],
)
def test_bad_options_fail_at_build_time(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        provider(**options)


# --- responses -----------------------------------------------------------------------------


@respx.mock
async def test_complete_parses_text_usage_ids_and_latency() -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 100,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 30},
    }
    blocks = [
        {"type": "thinking", "thinking": "Let me think", "signature": "sig"},
        {"type": "text", "text": "The capital "},
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "text", "text": "is Paris."},
    ]
    respx.post(URL).respond(
        200, json=message(blocks=blocks, usage=usage), headers={"request-id": "req_h"}
    )
    response = await provider().complete(HELLO)
    assert response.content == "The capital is Paris."
    assert response.input_tokens == 125
    assert response.cached_input_tokens == 100
    assert response.output_tokens == 40
    assert response.reasoning_tokens == 30
    assert response.model == "claude-sonnet-4-6-20261001"
    assert response.response_id == "msg_01abc"
    assert response.request_id == "req_h"
    assert response.provider == "anthropic"
    assert response.finish_reason == "stop"
    assert response.latency_ms >= 0


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "other"),
        ("something_new", "other"),
    ],
)
@respx.mock
async def test_stop_reasons_are_normalised(stop_reason: str, finish: str) -> None:
    respx.post(URL).respond(200, json=message(stop_reason=stop_reason))
    assert (await provider().complete(HELLO)).finish_reason == finish


@respx.mock
async def test_refusal_without_text_is_a_content_filter_error() -> None:
    respx.post(URL).respond(200, json=message(blocks=[], stop_reason="refusal"))
    with pytest.raises(ContentFilterError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is False


@respx.mock
async def test_an_answer_without_text_is_an_empty_response_error() -> None:
    respx.post(URL).respond(200, json=message(blocks=[], stop_reason="end_turn"))
    with pytest.raises(EmptyResponseError, match="no text") as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is False


@respx.mock
async def test_thinking_that_used_the_whole_budget_is_an_empty_response_error_saying_so() -> None:
    thinking_only = [{"type": "thinking", "thinking": "hmm", "signature": "s"}]
    respx.post(URL).respond(200, json=message(blocks=thinking_only, stop_reason="max_tokens"))
    with pytest.raises(EmptyResponseError, match=r"whole output budget.*on thinking") as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "body",
    [b'{"id":"msg_1","type":"message","content":[{"type":"text","te', b"<html>502</html>"],
    ids=["truncated-json", "html"],
)
@respx.mock
async def test_an_unparseable_200_is_a_response_decode_error(body: bytes) -> None:
    respx.post(URL).respond(200, content=body, headers={"content-type": "application/json"})
    with pytest.raises(ResponseDecodeError) as caught:
        await provider().complete(HELLO)
    assert caught.value.body_excerpt
    assert caught.value.provider == "anthropic"


@respx.mock
async def test_an_error_object_in_a_200_body_raises_its_class() -> None:
    respx.post(URL).respond(200, json=error_body("overloaded_error", "Overloaded"))
    with pytest.raises(ServerError, match="Overloaded") as caught:
        await provider().complete(HELLO)
    assert caught.value.error_type == "overloaded_error"


# --- streaming -----------------------------------------------------------------------------


@respx.mock
async def test_stream_yields_deltas_then_one_end_with_merged_usage() -> None:
    route = respx.post(URL).respond(
        200,
        headers={"content-type": "text/event-stream", "request-id": "req_s"},
        content=sse(*stream_events("Par", "is", ".")),
    )
    events = await collect(provider())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Par", "is", "."]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    response = end.response
    assert response.content == "Paris."
    # message_delta's cumulative counts replace message_start's; absent fields survive.
    assert response.input_tokens == 10 + 4 + 90
    assert response.cached_input_tokens == 90
    assert response.output_tokens == 7
    assert response.finish_reason == "stop"
    assert response.response_id == "msg_stream"
    assert response.request_id == "req_s"
    assert sent(route)["stream"] is True


@respx.mock
async def test_stream_yields_thinking_deltas_and_ignores_json_outside_a_tool_block() -> None:
    events = stream_events("Answer")
    thinking = [
        ("content_block_delta", {"type": "content_block_delta", "delta": d})
        for d in (
            {"type": "thinking_delta", "thinking": "secret reasoning"},
            {"type": "signature_delta", "signature": "abc"},
            {"type": "input_json_delta", "partial_json": '{"a"'},
        )
    ]
    respx.post(URL).mock(return_value=event_stream(sse(*events[:2], *thinking, *events[2:])))
    got = await collect(provider())
    assert [type(e).__name__ for e in got] == ["ReasoningDelta", "TextDelta", "StreamEnd"]
    response = got[-1].response
    assert response.parts == (
        ReasoningPart("secret reasoning", signature="abc", provider="anthropic"),
        TextPart("Answer"),
    )
    assert response.reasoning_text == "secret reasoning"


@respx.mock
async def test_stream_tolerates_crlf_line_endings() -> None:
    respx.post(URL).mock(return_value=event_stream(sse(*stream_events("Hi"), newline="\r\n")))
    events = await collect(provider())
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.content == "Hi"


@pytest.mark.parametrize(
    ("error_type", "error_class"),
    [
        ("overloaded_error", ServerError),
        ("rate_limit_error", RateLimitError),
        ("api_error", ServerError),
        ("invalid_request_error", InvalidRequestError),
        ("brand_new_error", ServerError),
    ],
)
@respx.mock
async def test_an_error_event_mid_stream_raises_its_class(
    error_type: str, error_class: type[LLMError]
) -> None:
    events = stream_events("Partial")[:4]
    events.append(("error", error_body(error_type, "Something went wrong")))
    respx.post(URL).mock(return_value=event_stream(sse(*events), {"request-id": "req_e"}))
    seen: list[Any] = []
    with pytest.raises(error_class) as caught:
        async for event in provider().stream(HELLO):
            seen.append(event)
    assert type(caught.value) is error_class
    assert [e.text for e in seen] == ["Partial"]
    assert caught.value.error_type == error_type
    assert caught.value.provider == "anthropic"
    assert caught.value.request_id == "req_body_1"  # the event's own id wins over the header


async def no_wait(seconds: float) -> None:
    """Retry's sleep, in tests that must not wait."""


@respx.mock
async def test_an_error_event_mid_stream_carries_the_usage_so_far_into_mid_stream_error() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*stream_events("Hello")[:4], ("error", overloaded)]
    respx.post(URL).mock(return_value=event_stream(sse(*events)))
    with pytest.raises(ServerError) as caught:
        await collect(provider())
    assert (caught.value.input_tokens, caught.value.output_tokens) == (114, 1)
    with pytest.raises(MidStreamError) as wrapped:
        await collect(Retry(provider(), sleep=no_wait))
    assert wrapped.value.partial_text == "Hello"
    assert (wrapped.value.input_tokens, wrapped.value.output_tokens) == (114, 1)


@respx.mock
async def test_an_error_event_without_its_own_id_takes_the_header_request_id() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*stream_events("Hi")[:3], ("error", overloaded)]
    respx.post(URL).mock(return_value=event_stream(sse(*events), {"request-id": "req_e"}))
    with pytest.raises(ServerError, match="Overloaded") as caught:
        await collect(provider())
    assert caught.value.request_id == "req_e"
    assert caught.value.retryable is True


@respx.mock
async def test_a_stream_cut_before_message_stop_is_a_response_decode_error() -> None:
    respx.post(URL).mock(return_value=event_stream(sse(*stream_events("Par", "is")[:-1])))
    seen: list[Any] = []
    with pytest.raises(ResponseDecodeError, match="terminal event"):
        async for event in provider().stream(HELLO):
            seen.append(event)
    assert not any(isinstance(e, StreamEnd) for e in seen)


@respx.mock
async def test_a_stream_with_a_broken_event_is_a_response_decode_error() -> None:
    body = sse(*stream_events("Hi")[:3]) + b'event: content_block_delta\ndata: {"type":"con\n\n'
    respx.post(URL).mock(return_value=event_stream(body))
    with pytest.raises(ResponseDecodeError, match="stream event"):
        await collect(provider())


@respx.mock
async def test_a_refused_stream_without_text_is_a_content_filter_error() -> None:
    respx.post(URL).mock(return_value=event_stream(sse(*stream_events(stop_reason="refusal"))))
    with pytest.raises(ContentFilterError):
        await collect(provider())


@respx.mock
async def test_a_stream_answered_with_an_error_status_raises_before_any_text() -> None:
    respx.post(URL).respond(529, json=error_body("overloaded_error", "Overloaded"))
    with pytest.raises(ServerError) as caught:
        await collect(provider())
    assert caught.value.status == 529


@respx.mock
async def test_a_stream_answered_with_a_json_error_body_raises_its_class() -> None:
    respx.post(URL).respond(200, json=error_body("rate_limit_error", "Slow down"))
    with pytest.raises(RateLimitError, match="Slow down"):
        await collect(provider())


@respx.mock
async def test_a_stream_answered_with_a_plain_message_is_a_response_decode_error() -> None:
    respx.post(URL).respond(200, json=message())
    with pytest.raises(ResponseDecodeError, match="expected an event stream"):
        await collect(provider())


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error_class"),
    [
        (400, "invalid_request_error", InvalidRequestError),
        (402, "billing_error", QuotaExhaustedError),
        (403, "permission_error", PermissionDeniedError),
        (404, "not_found_error", InvalidRequestError),
        (409, "conflict_error", ServerError),
        (413, "request_too_large", InvalidRequestError),
        (422, "invalid_request_error", InvalidRequestError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", ServerError),
        (503, "api_error", ServerError),
        (504, "timeout_error", ServerError),
        (529, "overloaded_error", ServerError),
    ],
)
@respx.mock
async def test_error_statuses_map_to_their_class(
    status: int, error_type: str, error_class: type[LLMError]
) -> None:
    body = error_body(error_type, "Vendor says no", error_code="some_code")
    respx.post(URL).respond(status, json=body, headers={"request-id": "req_header"})
    with pytest.raises(error_class) as caught:
        await provider().complete(HELLO)
    error = caught.value
    assert type(error) is error_class
    assert error.status == status
    assert error.message == "Vendor says no"
    assert error.error_type == error_type
    assert error.error_code == "some_code"
    assert error.request_id == "req_body_1"
    assert error.provider == "anthropic"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "14"}, 14.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "http-date:30"}, 30.0),
    ],
    ids=["seconds", "milliseconds", "http-date"],
)
@respx.mock
async def test_rate_limits_carry_retry_after(headers: dict[str, str], expected: float) -> None:
    if headers.get("retry-after", "").startswith("http-date:"):
        when = time.time() + float(headers["retry-after"].split(":")[1])
        headers = {"retry-after": email.utils.formatdate(when, usegmt=True)}
    body = error_body("rate_limit_error", "This request would exceed your rate limit.")
    respx.post(URL).respond(429, json=body, headers=headers)
    with pytest.raises(RateLimitError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retry_after == pytest.approx(expected, abs=1.5)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (429, "Your organization has reached its monthly spend limit."),
        (429, "Usage credits are required for long context requests."),
        (400, "You have reached your specified API usage limits. You will regain access soon."),
        (400, "Your credit balance is too low to access the Anthropic API."),
    ],
)
@respx.mock
async def test_billing_limits_are_quota_exhausted(status: int, text: str) -> None:
    error_type = "rate_limit_error" if status == 429 else "invalid_request_error"
    respx.post(URL).respond(status, json=error_body(error_type, text))
    with pytest.raises(QuotaExhaustedError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is False
    assert caught.value.status == status


@respx.mock
async def test_a_rate_limit_without_billing_wording_stays_retryable() -> None:
    body = error_body("rate_limit_error", "This request would exceed your rate limit.")
    respx.post(URL).respond(429, json=body)
    with pytest.raises(RateLimitError):
        await provider().complete(HELLO)


@respx.mock
async def test_a_401_refreshes_the_credential_once_and_repeats_the_request() -> None:
    route = respx.post(URL).mock(side_effect=reject_old_key)
    credentials = RotatingCredentials()
    response = await AnthropicProvider(CONFIG, credentials=credentials).complete(HELLO)
    assert response.content == "Paris"
    assert credentials.refreshes == 1
    assert route.call_count == 2


@respx.mock
async def test_a_second_401_is_an_authentication_error_after_two_requests() -> None:
    route = respx.post(URL).respond(401, json=error_body("authentication_error", "invalid key"))
    credentials = RotatingCredentials()
    with pytest.raises(AuthenticationError, match="refreshing the credential once") as caught:
        await AnthropicProvider(CONFIG, credentials=credentials).complete(HELLO)
    assert caught.value.retryable is True
    assert route.call_count == 2


@respx.mock
async def test_a_401_for_a_static_key_is_raised_after_one_request() -> None:
    route = respx.post(URL).respond(401, json=error_body("authentication_error", "invalid key"))
    with pytest.raises(AuthenticationError, match="gave the same key") as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is True
    assert route.call_count == 1


@respx.mock
async def test_a_401_during_a_stream_refreshes_once_too() -> None:
    route = respx.post(URL).respond(401, json=error_body("authentication_error", "invalid key"))
    with pytest.raises(AuthenticationError):
        await collect(AnthropicProvider(CONFIG, credentials=RotatingCredentials()))
    assert route.call_count == 2
    with pytest.raises(AuthenticationError):
        await collect(provider())
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError),
        (413, b"request entity too large", InvalidRequestError),
        (500, b'{"type":"error","error":{"type":"api_e', ServerError),
        (503, b'{"error": "upstream connect error"}', ServerError),
    ],
    ids=["html-502", "plain-413", "truncated-500", "gateway-json-503"],
)
@respx.mock
async def test_error_bodies_that_are_not_anthropic_json_keep_the_status_class(
    status: int, body: bytes, error_class: type[LLMError]
) -> None:
    respx.post(URL).respond(status, content=body, headers={"content-type": "text/html"})
    with pytest.raises(error_class) as caught:
        await provider().complete(HELLO)
    assert caught.value.status == status
    assert caught.value.body_excerpt
    assert str(status) in caught.value.message


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
@respx.mock
async def test_x_should_retry_is_kept_on_the_error(value: str, expected: bool) -> None:
    body = error_body("api_error", "Internal error")
    respx.post(URL).respond(500, json=body, headers={"x-should-retry": value})
    with pytest.raises(ServerError) as caught:
        await provider().complete(HELLO)
    assert caught.value.should_retry is expected


@respx.mock
async def test_timeouts_are_llm_timeout_errors() -> None:
    respx.post(URL).mock(side_effect=raise_read_timeout)
    with pytest.raises(LLMTimeoutError):
        await provider().complete(HELLO)
    with pytest.raises(LLMTimeoutError):
        await collect(provider())


@respx.mock
async def test_connection_failures_are_network_errors() -> None:
    respx.post(URL).mock(side_effect=raise_connect_error)
    with pytest.raises(NetworkError):
        await provider().complete(HELLO)
    with pytest.raises(NetworkError):
        await collect(provider())


# --- keys, base URL, lifecycle --------------------------------------------------------------


def test_a_missing_key_names_the_environment_variable() -> None:
    with pytest.raises(MissingCredentialsError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider(CONFIG)


@respx.mock
async def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-000000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8999/")
    route = respx.post("http://127.0.0.1:8999/v1/messages").mock(side_effect=answer_paris)
    p = AnthropicProvider(CONFIG)
    await p.complete(HELLO)
    assert route.calls.last.request.headers["x-api-key"] == "sk-ant-from-env-000000"
    assert p.info.server_address == "127.0.0.1"
    assert p.info.server_port == 8999


@respx.mock
async def test_an_explicit_base_url_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1/")
    route = respx.post("https://gateway.example.test/anthropic/v1/messages").mock(
        side_effect=answer_paris
    )
    await provider(base_url="https://gateway.example.test/anthropic").complete(HELLO)
    assert route.call_count == 1


@respx.mock
async def test_the_key_never_appears_in_errors_or_reprs() -> None:
    leaked = error_body("authentication_error", f"invalid x-api-key {KEY}")
    respx.post(URL).respond(401, json=leaked, headers={"request-id": "r"})
    p = provider()
    with pytest.raises(AuthenticationError) as caught:
        await p.complete(HELLO)
    for text in (str(caught.value), repr(caught.value), repr(p), str(caught.value.context())):
        assert KEY not in text
    assert KEY not in (caught.value.body_excerpt or "")


async def test_aclose_closes_an_owned_client_but_not_a_shared_one() -> None:
    owned = provider()
    await owned.aclose()
    assert owned._client.is_closed
    async with httpx.AsyncClient() as shared:
        async with provider(http_client=shared):
            pass
        assert not shared.is_closed


# --- real recordings -----------------------------------------------------------------------


@pytest.mark.parametrize("path", all_recordings("anthropic"))
async def test_real_recordings_replay(path: Path) -> None:
    seen = await replay(path, lambda config, client: provider(config=config, http_client=client))
    for request in seen:
        assert request.url.path == "/v1/messages"
        assert request.headers["anthropic-version"] == "2023-06-01"
