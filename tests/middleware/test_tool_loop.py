"""ToolLoop runs the model's tool calls and asks again: handlers, checks, errors, limits,
cancellation, usage, streams, spans and its place outside Retry (over MockProvider)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    InvalidRequestError,
    RateLimitError,
    ReasoningPart,
    ServerError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    ToolStepsExceededError,
)
from ashford_llm.middleware import Retry, ToolLoop, Tracing
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware.tool_loop.schema import schema_errors
from ashford_llm.testing import MockProvider


class City(msgspec.Struct, frozen=True):
    city: str
    unit: str = "celsius"


WEATHER = Tool("get_weather", "The current weather in a city", City)
TIME_SCHEMA = {
    "type": "object",
    "properties": {
        "zone": {"type": "string", "enum": ["UTC", "CET"]},
        "precision": {"type": "integer", "minimum": 0},
    },
    "required": ["zone"],
    "additionalProperties": False,
}
TIME = Tool("get_time", "The time now in a zone", TIME_SCHEMA)
QUESTION = ChatMessage.user("What is the weather in Paris?")
ASK = CompletionRequest([QUESTION], tools=[WEATHER])


def calls(*tool_calls: ToolCall, text: str = "", tokens: tuple[int, int] = (10, 5)) -> Any:
    """Returns an answer holding the calls (after `text`, when given)."""
    parts: tuple[Any, ...] = ((TextPart(text),) if text else ()) + tool_calls
    return CompletionResponse(
        model="mock-model",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=100.0,
        finish_reason="tool_calls",
        provider="mock",
        parts=parts,
    )


def weather_call(call_id: str = "call_1", **arguments: Any) -> ToolCall:
    return ToolCall(call_id, "get_weather", arguments or {"city": "Paris"})


def sunny(query: City) -> str:
    return f"18 degrees {query.unit} and sunny in {query.city}"


def results(request: CompletionRequest) -> list[ToolResult]:
    """Returns the tool results a request carries, in order."""
    return [
        part
        for message in request.messages
        if message.role == "tool"
        for part in message.parts
        if isinstance(part, ToolResult)
    ]


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


# --- the loop ---------------------------------------------------------------------------------


async def test_a_request_without_tools_passes_through() -> None:
    mock = MockProvider(["hello"])
    loop = ToolLoop(mock, handlers={"get_weather": sunny})
    response = await loop.complete(CompletionRequest([QUESTION]))
    assert response.content == "hello"
    assert len(mock.requests) == 1


async def test_a_call_runs_and_its_result_goes_back_with_the_models_turn() -> None:
    first = calls(weather_call(), text="Let me check.")
    mock = MockProvider([first, "It is sunny."])
    response = await ToolLoop(mock, handlers={"get_weather": sunny}).complete(ASK)
    assert response.content == "It is sunny."
    second = mock.requests[1]
    assert second.messages[:2] == (QUESTION, ChatMessage.assistant(*first.parts))
    assert second.messages[2] == ChatMessage.tool_result(
        "call_1", "18 degrees celsius and sunny in Paris", name="get_weather"
    )
    assert second.tools == (WEATHER,)


async def test_the_models_reasoning_and_signatures_go_back_unchanged() -> None:
    thinking = ReasoningPart("The user wants weather.", signature="sig-1", provider="mock")
    call = ToolCall("call_1", "get_weather", {"city": "Paris"}, signature="sig-2", provider="mock")
    first = CompletionResponse(
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=1.0,
        finish_reason="tool_calls",
        provider="mock",
        parts=(thinking, call),
    )
    mock = MockProvider([first, "Sunny."])
    await ToolLoop(mock, handlers={"get_weather": sunny}).complete(ASK)
    assert mock.requests[1].messages[1].parts == (thinking, call)


async def test_a_sync_handler_runs_in_a_worker_thread() -> None:
    threads: list[int] = []

    def handler(query: City) -> str:
        threads.append(threading.get_ident())
        return "sunny"

    mock = MockProvider([calls(weather_call()), "Sunny."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


async def test_an_async_handler_gets_the_arguments_decoded_into_the_tools_type() -> None:
    seen: list[Any] = []

    async def handler(query: City) -> str:
        seen.append(query)
        return "sunny"

    mock = MockProvider([calls(weather_call(city="Oslo", unit="fahrenheit")), "Sunny."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    assert seen == [City(city="Oslo", unit="fahrenheit")]


async def test_a_schema_tools_handler_gets_a_dict_it_may_change_safely() -> None:
    def handler(arguments: dict[str, Any]) -> str:
        assert arguments == {"zone": "UTC"}
        arguments["zone"] = "changed"
        return "12:00"

    call = ToolCall("call_1", "get_time", {"zone": "UTC"})
    mock = MockProvider([calls(call), "Noon."])
    request = CompletionRequest([QUESTION], tools=[TIME])
    await ToolLoop(mock, handlers={"get_time": handler}).complete(request)
    assert mock.requests[1].messages[1].parts == (call,)
    assert call.arguments == {"zone": "UTC"}  # what went back to the model is unchanged


async def test_parallel_async_calls_run_concurrently() -> None:
    barrier = asyncio.Barrier(2)  # each handler waits for the other: sequential runs time out

    async def handler(query: City) -> str:
        await barrier.wait()
        return f"sunny in {query.city}"

    both = calls(weather_call("a", city="Paris"), weather_call("b", city="Oslo"))
    mock = MockProvider([both, "Sunny in both."])
    loop = ToolLoop(mock, handlers={"get_weather": handler}, handler_timeout=5)
    await loop.complete(ASK)
    assert results(mock.requests[1]) == [
        ToolResult("a", "sunny in Paris", name="get_weather"),
        ToolResult("b", "sunny in Oslo", name="get_weather"),
    ]


async def test_parallel_sync_calls_run_in_threads_at_once() -> None:
    barrier = threading.Barrier(2, timeout=5)  # raises BrokenBarrierError if run one by one

    def handler(query: City) -> str:
        barrier.wait()
        return query.city

    both = calls(weather_call("a", city="Paris"), weather_call("b", city="Oslo"))
    mock = MockProvider([both, "Done."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    assert [(r.content, r.is_error) for r in results(mock.requests[1])] == [
        ("Paris", False),
        ("Oslo", False),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (ToolCall("c", "get_weather", {"city": 3}), "Expected `str`, got `int` - at `$.city`"),
        (ToolCall("c", "get_weather", {}), "Object missing required field `city`"),
        (ToolCall("c", "get_time", {"zone": "PST"}), "$.zone: 'PST' is not one of"),
        (ToolCall("c", "get_time", {"precision": 1}), "$: missing required property 'zone'"),
        (ToolCall("c", "get_time", {"zone": "UTC", "x": 1}), "$: unexpected property 'x'"),
        (ToolCall("c", "get_time", {"zone": "UTC", "precision": -1}), "below the minimum 0"),
    ],
)
async def test_invalid_arguments_go_back_as_an_error_and_never_reach_the_handler(
    call: ToolCall, message: str
) -> None:
    ran: list[Any] = []
    mock = MockProvider([calls(call), "Sorry."])
    loop = ToolLoop(mock, handlers={"get_weather": ran.append, "get_time": ran.append})
    await loop.complete(CompletionRequest([QUESTION], tools=[WEATHER, TIME]))
    [result] = results(mock.requests[1])
    assert result.is_error
    assert result.content.startswith(f"invalid arguments for {call.name}: ")
    assert message in result.content
    assert ran == []


async def test_a_handlers_exception_becomes_an_error_result() -> None:
    def handler(query: City) -> str:
        raise LookupError(f"no station in {query.city}")

    mock = MockProvider([calls(weather_call()), "Sorry."])
    response = await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    assert response.content == "Sorry."
    assert results(mock.requests[1]) == [
        ToolResult("call_1", "LookupError: no station in Paris", is_error=True, name="get_weather")
    ]


async def test_a_handlers_exception_text_is_redacted_before_the_model_sees_it() -> None:
    def handler(query: City) -> str:
        raise RuntimeError("key sk-proj-abcdefghijklmnop0123 was refused")

    mock = MockProvider([calls(weather_call()), "Sorry."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    [result] = results(mock.requests[1])
    assert "sk-proj" not in result.content
    assert result.content == "RuntimeError: key [redacted] was refused"


async def test_an_llm_error_from_a_handler_propagates() -> None:
    async def handler(query: City) -> str:
        raise RateLimitError("the weather service's model is busy", retry_after=3.0)

    mock = MockProvider([calls(weather_call()), "never asked"])
    with pytest.raises(RateLimitError, match="busy"):
        await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    assert len(mock.requests) == 1


async def test_an_llm_error_cancels_the_other_running_handlers() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def handler(query: City) -> str:
        if query.city == "Oslo":
            await started.wait()
            raise ServerError("inner model failed")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(query.city)
            raise
        return "never"

    both = calls(weather_call("a", city="Paris"), weather_call("b", city="Oslo"))
    loop = ToolLoop(MockProvider([both]), handlers={"get_weather": handler}, handler_timeout=5)
    with pytest.raises(ServerError, match="inner model failed"):
        await loop.complete(ASK)
    assert cancelled == ["Paris"]


async def test_a_call_of_a_tool_not_offered_is_reported_to_the_model() -> None:
    ran: list[Any] = []
    mock = MockProvider([calls(ToolCall("call_1", "get_time", {"zone": "UTC"})), "Sorry."])
    loop = ToolLoop(mock, handlers={"get_weather": sunny, "get_time": ran.append})
    await loop.complete(ASK)  # get_time has a handler but this request does not offer it
    assert results(mock.requests[1]) == [
        ToolResult(
            "call_1",
            "unknown tool 'get_time'; the tools offered are: get_weather",
            is_error=True,
            name="get_time",
        )
    ]
    assert ran == []


async def test_a_request_offering_a_tool_without_handler_is_refused_before_sending() -> None:
    mock = MockProvider(["never"])
    loop = ToolLoop(mock, handlers={"get_weather": sunny})
    with pytest.raises(
        InvalidRequestError, match=r"no handler for the offered tools \['get_time'\]"
    ):
        await loop.complete(CompletionRequest([QUESTION], tools=[WEATHER, TIME]))
    with pytest.raises(InvalidRequestError):
        await collect(loop.stream(CompletionRequest([QUESTION], tools=[TIME])))
    assert mock.requests == []


async def test_a_handler_past_its_timeout_is_cancelled_and_reported_as_timed_out() -> None:
    seen: list[str] = []

    async def handler(query: City) -> str:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    mock = MockProvider([calls(weather_call()), "The service is slow."])
    loop = ToolLoop(mock, handlers={"get_weather": handler}, handler_timeout=0.05)
    await loop.complete(ASK)
    assert results(mock.requests[1]) == [
        ToolResult("call_1", "tool get_weather timed out after 0.05 s", True, "get_weather")
    ]
    assert seen == ["cancelled"]


async def test_a_handlers_own_timeout_error_is_an_error_result_not_a_timeout() -> None:
    async def handler(query: City) -> str:
        raise TimeoutError("upstream took too long")

    mock = MockProvider([calls(weather_call()), "Sorry."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    [result] = results(mock.requests[1])
    assert result.content == "TimeoutError: upstream took too long"


async def test_cancelling_the_call_cancels_running_handlers() -> None:
    started = asyncio.Event()
    seen: list[str] = []

    async def handler(query: City) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(query.city)
            raise
        return "never"

    both = calls(weather_call("a", city="Paris"), weather_call("b", city="Oslo"))
    loop = ToolLoop(MockProvider([both]), handlers={"get_weather": handler})
    task = asyncio.create_task(loop.complete(ASK))
    await started.wait()
    await asyncio.sleep(0)  # let the second handler start too
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(seen) == ["Oslo", "Paris"]


async def test_results_that_are_not_strings_are_sent_as_json() -> None:
    def handler(query: City) -> dict[str, Any]:
        return {"city": query.city, "temp_c": 18.5, "tags": ["sunny"]}

    mock = MockProvider([calls(weather_call()), "Sunny."])
    await ToolLoop(mock, handlers={"get_weather": handler}).complete(ASK)
    [result] = results(mock.requests[1])
    assert json.loads(result.content) == {"city": "Paris", "temp_c": 18.5, "tags": ["sunny"]}
    assert not result.is_error


async def test_a_result_json_cannot_encode_is_an_error_result() -> None:
    mock = MockProvider([calls(weather_call()), "Sorry."])
    await ToolLoop(mock, handlers={"get_weather": lambda query: object()}).complete(ASK)
    [result] = results(mock.requests[1])
    assert result.is_error
    assert result.content.startswith("the result of get_weather cannot be encoded as JSON: ")


async def test_max_steps_bounds_the_model_turns() -> None:
    ran: list[Any] = []
    mock = MockProvider(lambda request: calls(weather_call(f"call_{len(request.messages)}")))
    loop = ToolLoop(mock, handlers={"get_weather": ran.append}, max_steps=3)
    with pytest.raises(ToolStepsExceededError) as raised:
        await loop.complete(ASK)
    error = raised.value
    assert len(mock.requests) == 3
    assert len(ran) == 2  # the third turn's calls are not run: nobody would read the results
    assert error.provider == "mock"
    assert (error.input_tokens, error.output_tokens) == (30, 15)
    assert str(error) == (
        "the model still asked for tools (get_weather) after 3 model turns (max_steps=3) "
        "(provider=mock)"
    )
    assert not error.retryable


async def test_max_steps_one_allows_an_answer_without_calls() -> None:
    loop = ToolLoop(
        MockProvider(["No tools needed."]), handlers={"get_weather": sunny}, max_steps=1
    )
    assert (await loop.complete(ASK)).content == "No tools needed."


async def test_the_answer_carries_the_usage_of_every_turn() -> None:
    first = msgspec.structs.replace(
        calls(weather_call(), tokens=(100, 20)), cached_input_tokens=40, reasoning_tokens=8
    )
    last = CompletionResponse(
        content="Sunny.",
        model="mock-model-2",
        input_tokens=150,
        output_tokens=6,
        latency_ms=50.0,
        finish_reason="stop",
        provider="mock",
        response_id="resp-2",
        cached_input_tokens=100,
        attempts=2,
    )
    response = await ToolLoop(
        MockProvider([first, last]), handlers={"get_weather": sunny}
    ).complete(ASK)
    assert (response.input_tokens, response.output_tokens) == (250, 26)
    assert (response.cached_input_tokens, response.reasoning_tokens) == (140, 8)
    assert response.cache_write_tokens is None
    assert response.latency_ms == 150.0
    assert (response.content, response.model, response.response_id, response.attempts) == (
        "Sunny.",
        "mock-model-2",
        "resp-2",
        2,
    )


@pytest.mark.parametrize("choice", ["required", "get_weather"])
async def test_a_forcing_tool_choice_holds_for_the_first_turn_only(choice: str) -> None:
    mock = MockProvider([calls(weather_call()), "Sunny."])
    request = msgspec.structs.replace(ASK, tool_choice=choice)
    await ToolLoop(mock, handlers={"get_weather": sunny}).complete(request)
    assert [r.tool_choice for r in mock.requests] == [choice, "auto"]


# --- streams ----------------------------------------------------------------------------------


async def test_a_stream_yields_every_turns_deltas_and_one_stream_end() -> None:
    first = calls(weather_call(), text="Let me check.", tokens=(10, 5))
    mock = MockProvider([first, "It is sunny in Paris."])
    events = await collect(ToolLoop(mock, handlers={"get_weather": sunny}).stream(ASK))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == "Let me check.It is sunny in Paris."
    assert texts[-5:] == ["It ", "is ", "sunny ", "in ", "Paris."]  # the last turn streams
    assert [e for e in events if isinstance(e, ToolCallDelta)] == [
        ToolCallDelta(0, "call_1", "get_weather", '{"city":"Paris"}')
    ]
    ends = [e for e in events if isinstance(e, StreamEnd)]
    assert ends == [events[-1]]
    final = ends[0].response
    assert final.content == "It is sunny in Paris."
    # The mock counts words: 6 of the question and 3 of the first turn's text, then 5 answered.
    assert (final.input_tokens, final.output_tokens) == (10 + 9, 5 + 5)
    assert results(mock.requests[1])[0].content == "18 degrees celsius and sunny in Paris"


async def test_tool_call_delta_indices_count_the_calls_of_the_whole_stream() -> None:
    mock = MockProvider(
        [
            calls(weather_call("a", city="Paris"), weather_call("b", city="Oslo")),
            calls(weather_call("c", city="Rome")),
            "Sunny everywhere.",
        ]
    )
    events = await collect(ToolLoop(mock, handlers={"get_weather": sunny}).stream(ASK))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.id) for d in deltas] == [(0, "a"), (1, "b"), (2, "c")]


async def test_a_stream_past_max_steps_raises_after_its_deltas() -> None:
    mock = MockProvider(lambda request: calls(weather_call(), text="again"))
    loop = ToolLoop(mock, handlers={"get_weather": sunny}, max_steps=2)
    seen: list[StreamEvent] = []
    with pytest.raises(ToolStepsExceededError):
        async for event in loop.stream(ASK):
            seen.append(event)
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["again", "again"]
    assert not any(isinstance(e, StreamEnd) for e in seen)


async def test_a_stream_without_tools_passes_through() -> None:
    loop = ToolLoop(MockProvider(["plain answer"]), handlers={"get_weather": sunny})
    events = await collect(loop.stream(CompletionRequest([QUESTION])))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["plain ", "answer"]
    assert isinstance(events[-1], StreamEnd)


async def test_closing_the_stream_early_closes_the_inner_stream() -> None:
    closed: list[bool] = []

    class Closing(MockProvider):
        async def stream(self, request: CompletionRequest) -> Any:
            try:
                async for event in super().stream(request):
                    yield event
            finally:
                closed.append(True)

    loop = ToolLoop(Closing(["one two three"]), handlers={"get_weather": sunny})
    events = loop.stream(ASK)
    assert isinstance(await anext(events), TextDelta)
    await events.aclose()
    assert closed == [True]


# --- spans ------------------------------------------------------------------------------------


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV, raising=False)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


@pytest.mark.parametrize("streamed", [False, True])
async def test_each_execution_is_an_execute_tool_span_under_the_calls_span(
    spans: tuple[TracerProvider, InMemorySpanExporter], streamed: bool
) -> None:
    provider, exporter = spans

    def fails(arguments: dict[str, Any]) -> str:
        raise ValueError("bad zone")

    both = calls(weather_call("a"), ToolCall("b", "get_time", {"zone": "UTC"}))
    stack = (
        ClientBuilder()
        .use(Tracing, tracer_provider=provider)
        .use(ToolLoop, handlers={"get_weather": sunny, "get_time": fails}, tracer_provider=provider)
        .build(MockProvider([both, "Sunny."]))
    )
    request = CompletionRequest([QUESTION], tools=[WEATHER, TIME])
    if streamed:
        await collect(stack.stream(request))
    else:
        await stack.complete(request)
    found = by_name(exporter)
    assert set(found) == {"chat mock-model", "execute_tool get_weather", "execute_tool get_time"}
    chat = found["chat mock-model"]
    weather, time = found["execute_tool get_weather"], found["execute_tool get_time"]
    for tool_span in (weather, time):
        assert tool_span.parent is not None
        assert tool_span.parent.span_id == chat.context.span_id
        assert tool_span.context.trace_id == chat.context.trace_id
    assert dict(weather.attributes or {}) == {
        sc.OPERATION_NAME: "execute_tool",
        sc.TOOL_NAME: "get_weather",
        sc.TOOL_CALL_ID: "a",
        sc.TOOL_TYPE: "function",
        sc.TOOL_DESCRIPTION: "The current weather in a city",
    }
    assert weather.status.status_code is StatusCode.UNSET
    assert dict(time.attributes or {})[sc.ERROR_TYPE] == "ValueError"
    assert time.status.status_code is StatusCode.ERROR
    assert time.status.description == "ValueError: bad zone"
    assert [event.name for event in time.events] == ["exception"]


async def test_spans_of_unknown_tools_timeouts_and_invalid_arguments_carry_an_error_type(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans

    async def hangs(query: City) -> str:
        await asyncio.Event().wait()
        return "never"

    answer = calls(
        weather_call("a"), weather_call("b", city=1), ToolCall("c", "get_news", {"topic": "x"})
    )
    loop = ToolLoop(
        MockProvider([answer, "Sorry."]),
        handlers={"get_weather": hangs},
        handler_timeout=0.05,
        tracer_provider=provider,
    )
    await loop.complete(ASK)
    kinds = {
        dict(span.attributes or {})[sc.TOOL_CALL_ID]: dict(span.attributes or {})[sc.ERROR_TYPE]
        for span in exporter.get_finished_spans()
    }
    assert kinds == {"a": "timeout", "b": "invalid_arguments", "c": "unknown_tool"}


async def test_a_cancelled_handler_span_says_cancelled(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    started = asyncio.Event()

    async def hangs(query: City) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    loop = ToolLoop(
        MockProvider([calls(weather_call())]),
        handlers={"get_weather": hangs},
        tracer_provider=provider,
    )
    task = asyncio.create_task(loop.complete(ASK))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "cancelled"


@pytest.mark.parametrize(
    ("capture", "recorded"),
    [(True, True), ("span_and_event", True), ("event_only", False), (None, False)],
)
async def test_arguments_and_results_are_on_the_span_only_when_capturing_content(
    spans: tuple[TracerProvider, InMemorySpanExporter], capture: Any, recorded: bool
) -> None:
    provider, exporter = spans
    loop = ToolLoop(
        MockProvider([calls(weather_call(city="Oslo")), "Sunny."]),
        handlers={"get_weather": sunny},
        tracer_provider=provider,
        capture_content=capture,
    )
    await loop.complete(ASK)
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    expected = {
        sc.TOOL_CALL_ARGUMENTS: '{"city":"Oslo"}',
        sc.TOOL_CALL_RESULT: "18 degrees celsius and sunny in Oslo",
    }
    assert {k: v for k, v in attributes.items() if k in expected} == (expected if recorded else {})


async def test_the_environment_variable_turns_tool_content_capture_on(
    spans: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, exporter = spans
    monkeypatch.setenv(sc.CAPTURE_CONTENT_ENV, "span_only")
    loop = ToolLoop(
        MockProvider([calls(weather_call()), "Sunny."]),
        handlers={"get_weather": sunny},
        tracer_provider=provider,
    )
    await loop.complete(ASK)
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes or {})[sc.TOOL_CALL_ARGUMENTS] == '{"city":"Paris"}'


@pytest.mark.parametrize(("capture", "recorded"), [(True, True), (False, False)])
async def test_tracing_records_the_tool_definitions_only_when_capturing_content(
    spans: tuple[TracerProvider, InMemorySpanExporter], capture: bool, recorded: bool
) -> None:
    provider, exporter = spans
    layer = Tracing(MockProvider(["ok"]), tracer_provider=provider, capture_content=capture)
    await layer.complete(CompletionRequest([QUESTION], tools=[WEATHER, TIME]))
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert (sc.TOOL_DEFINITIONS in attributes) is recorded
    if recorded:
        assert json.loads(str(attributes[sc.TOOL_DEFINITIONS])) == [
            {
                "type": "function",
                "name": "get_weather",
                "description": "The current weather in a city",
                "parameters": WEATHER.schema,
            },
            {
                "type": "function",
                "name": "get_time",
                "description": "The time now in a zone",
                "parameters": TIME_SCHEMA,
            },
        ]


# --- placement and building -------------------------------------------------------------------


async def no_wait(seconds: float) -> None:
    """Skips Retry's backoff waits."""


@pytest.mark.parametrize("streamed", [False, True])
async def test_with_retry_inside_a_failed_second_turn_does_not_run_the_tool_again(
    streamed: bool,
) -> None:
    ran: list[City] = []

    def handler(query: City) -> str:
        ran.append(query)
        return "sunny"

    mock = MockProvider([calls(weather_call()), ServerError("overloaded"), "Sunny."])
    stack = (
        ClientBuilder()
        .use(ToolLoop, handlers={"get_weather": handler})
        .use(Retry, sleep=no_wait)
        .build(mock)
    )
    if streamed:
        events = await collect(stack.stream(ASK))
        end = events[-1]
        assert isinstance(end, StreamEnd)
        response = end.response
    else:
        response = await stack.complete(ASK)
    assert response.content == "Sunny."
    assert response.attempts == 2  # the last turn needed a retry
    assert ran == [City(city="Paris")]
    assert mock.requests[1] == mock.requests[2]  # the retry repeated that one turn


async def test_the_builder_stacks_it_and_the_repr_shows_max_steps() -> None:
    stack = (
        ClientBuilder()
        .use(ToolLoop, handlers={"get_weather": sunny}, max_steps=4)
        .use(Retry)
        .build(MockProvider([]))
    )
    assert repr(stack) == (
        "ToolLoop(max_steps=4) -> Retry(max_retries=3) -> "
        "MockProvider(name='mock', model='mock-model')"
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"handlers": {}}, ValueError),
        ({"handlers": {"get_weather": "not callable"}}, TypeError),
        ({"handlers": {"": sunny}}, ValueError),
        ({"handlers": {"get_weather": sunny}, "max_steps": 0}, ValueError),
        ({"handlers": {"get_weather": sunny}, "max_steps": True}, ValueError),
        ({"handlers": {"get_weather": sunny}, "handler_timeout": 0}, ValueError),
        ({"handlers": {"get_weather": sunny}, "handler_timeout": float("inf")}, ValueError),
    ],
)
def test_bad_options_fail_when_the_layer_is_built(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        ToolLoop(MockProvider([]), **options)


def test_no_handler_timeout_is_allowed() -> None:
    assert (
        ToolLoop(MockProvider([]), handlers={"x": sunny}, handler_timeout=None).handler_timeout
        is None
    )


# --- the JSON Schema check --------------------------------------------------------------------

OBJECT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
        "count": {"type": "integer", "exclusiveMinimum": 0, "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "kind": {"const": "a"},
        "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "one": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        "ref": {"$ref": "#/$defs/Point"},
        "extra": {"type": ["string", "boolean"]},
    },
    "additionalProperties": {"type": "number"},
    "$defs": {
        "Point": {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}
    },
}


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"name": "ab", "count": 10, "tags": ["x"], "kind": "a", "either": None, "one": 1.5},
        {"ref": {"x": 1}, "extra": True, "more": 2.5, "count": 3.0},
    ],
)
def test_values_that_fit_the_schema_have_no_errors(value: dict[str, Any]) -> None:
    assert schema_errors(value, OBJECT) == []


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([], "$: expected object, got array"),
        ({"name": 5}, "$.name: expected string, got integer"),
        ({"name": "a"}, "$.name: shorter than 2 characters"),
        ({"name": "abcdef"}, "$.name: longer than 5 characters"),
        ({"name": "AB"}, "$.name: 'AB' does not match '^[a-z]+$'"),
        ({"count": 0}, "$.count: 0 is not above 0"),
        ({"count": 11}, "$.count: 11 is above the maximum 10"),
        ({"count": 1.5}, "$.count: expected integer, got number"),
        ({"count": True}, "$.count: expected integer, got boolean"),
        ({"tags": []}, "$.tags: expected at least 1 items, got 0"),
        ({"tags": ["a", "b", "c"]}, "$.tags: expected at most 2 items, got 3"),
        ({"tags": ["a", 1]}, "$.tags[1]: expected string, got integer"),
        ({"kind": "b"}, "$.kind: must be 'a', got 'b'"),
        ({"either": 1}, "$.either: matches none of the anyOf schemas"),
        ({"one": 2}, "$.one: matches 2 of the oneOf schemas, not exactly one"),
        ({"ref": {}}, "$.ref: missing required property 'x'"),
        ({"extra": 1}, "$.extra: expected string or boolean, got integer"),
        ({"more": "text"}, "$.more: expected number, got string"),
    ],
)
def test_values_that_break_the_schema_are_named_with_their_path(value: Any, error: str) -> None:
    assert schema_errors(value, OBJECT) == [error]


def test_the_schema_check_reports_several_errors_and_stops_at_five() -> None:
    schema = {"type": "object", "required": list("abcdefg")}
    errors = schema_errors({}, schema)
    assert errors == [f"$: missing required property {name!r}" for name in "abcde"]
