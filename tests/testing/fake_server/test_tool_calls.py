"""Our providers against the fake server's tool calls: complete, streamed, sent back, faulted."""

from collections import defaultdict
from collections.abc import Sequence

import httpx
import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    Tool,
    ToolCallDelta,
)
from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    InvalidRequestError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import FakeProviderServer, Fault

MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-5",
    "google": "gemini-3-flash-preview",
}
WEATHER = Tool(
    "get_weather",
    "The current weather in a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city", "unit"],
    },
)
CLOCK = Tool(
    "get_time",
    "The local time in a time zone",
    {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)
QUESTION = ChatMessage.user("What is the weather in Paris today?")
PARIS = {"city": "Paris", "unit": "celsius"}


@pytest.fixture(params=list(MODELS))
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def provider(
    vendor: str, server: FakeProviderServer, client: httpx.AsyncClient, model: str | None = None
) -> LLMProvider:
    return provider_from_config(
        ModelConfig(vendor, model or MODELS[vendor]),
        api_key="test-key",
        base_url=server.base_url(vendor),
        http_client=client,
    )


def calls(response: CompletionResponse) -> list[tuple[str, dict[str, object]]]:
    return [(call.name, call.arguments) for call in response.tool_calls]


async def complete_with(model: str, request: CompletionRequest) -> CompletionResponse:
    """Completes on the fake Gemini server with this model."""
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        return await provider("google", server, client, model).complete(request)


async def complete(
    vendor: str, request: CompletionRequest, server: FakeProviderServer | None = None
) -> CompletionResponse:
    server = server or FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        return await provider(vendor, server, client).complete(request)


async def stream(
    vendor: str, request: CompletionRequest, server: FakeProviderServer | None = None
) -> list[StreamEvent]:
    server = server or FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        return [event async for event in provider(vendor, server, client).stream(request)]


def fragments(events: Sequence[StreamEvent]) -> dict[int, list[ToolCallDelta]]:
    by_index: dict[int, list[ToolCallDelta]] = defaultdict(list)
    for event in events:
        if isinstance(event, ToolCallDelta):
            by_index[event.index].append(event)
    return dict(by_index)


async def test_the_first_offered_tool_is_called_with_arguments_from_the_prompt(
    vendor: str,
) -> None:
    request = CompletionRequest([QUESTION], tools=[WEATHER, CLOCK])

    response = await complete(vendor, request)

    assert calls(response) == [("get_weather", PARIS)]
    assert (response.content, response.finish_reason) == ("", "tool_calls")
    # The fake count: the name, and the 4 words of '{"city": "Paris", "unit": "celsius"}'.
    assert response.output_tokens == 5
    [call] = response.tool_calls
    id_prefix, id_length = {"openai": ("call_", 29), "anthropic": ("toolu_01", 30)}.get(
        vendor, ("", 8)
    )
    assert call.id.startswith(id_prefix)
    assert len(call.id) == id_length


async def test_tool_definitions_count_as_input_tokens(vendor: str) -> None:
    without = await complete(vendor, CompletionRequest([QUESTION]))
    with_tools = await complete(vendor, CompletionRequest([QUESTION], tools=[CLOCK]))

    assert without.input_tokens == 7
    assert with_tools.input_tokens > without.input_tokens


async def test_streamed_calls_come_in_fragments_and_end_with_the_decoded_calls(
    vendor: str,
) -> None:
    request = CompletionRequest([QUESTION], tools=[WEATHER])

    events = await stream(vendor, request)

    [deltas] = fragments(events).values()
    assert (deltas[0].id, deltas[0].name) != (None, None)
    assert all(delta.id is None and delta.name is None for delta in deltas[1:])
    joined = "".join(delta.arguments_delta for delta in deltas)
    assert joined.replace(" ", "") == '{"city":"Paris","unit":"celsius"}'
    pieces = [delta for delta in deltas if delta.arguments_delta]
    # OpenAI and Anthropic split the JSON; Gemini sends each call whole.
    assert len(pieces) >= 3 if vendor != "google" else len(pieces) == 1
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert calls(end.response) == [("get_weather", PARIS)]
    assert end.response.tool_calls[0].id == deltas[0].id
    assert end.response.finish_reason == "tool_calls"


async def test_a_tool_result_sent_back_gets_a_text_answer_that_quotes_it(vendor: str) -> None:
    server = FakeProviderServer()
    first = await complete(vendor, CompletionRequest([QUESTION], tools=[WEATHER]), server)
    [call] = first.tool_calls
    history = [
        QUESTION,
        ChatMessage.assistant(*first.parts),
        ChatMessage.tool_result(call.id, "18 degrees and sunny"),
    ]
    follow_up = CompletionRequest(history, tools=[WEATHER])

    answer = await complete(vendor, follow_up, server)
    streamed = await stream(vendor, follow_up, server)

    assert answer.content == "The tool said: 18 degrees and sunny"
    assert (answer.tool_calls, answer.finish_reason) == ((), "stop")
    end = streamed[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == answer.content


@pytest.mark.parametrize("stream_it", [False, True])
async def test_tool_choice_none_answers_with_text(vendor: str, stream_it: bool) -> None:
    request = CompletionRequest([QUESTION], tools=[WEATHER], tool_choice="none")

    if stream_it:
        end = (await stream(vendor, request))[-1]
        assert isinstance(end, StreamEnd)
        response = end.response
    else:
        response = await complete(vendor, request)

    assert (response.content, response.tool_calls) == ("What is the weather in Paris today?", ())


async def test_a_named_tool_choice_calls_that_tool(vendor: str) -> None:
    request = CompletionRequest([QUESTION], tools=[WEATHER, CLOCK], tool_choice="get_time")

    response = await complete(vendor, request)

    assert calls(response) == [("get_time", {"zone": "Paris"})]


async def test_a_required_tool_choice_calls_again_after_a_tool_result(vendor: str) -> None:
    server = FakeProviderServer()
    request = CompletionRequest([QUESTION], tools=[WEATHER], tool_choice="required")
    first = await complete(vendor, request, server)
    history = [
        QUESTION,
        ChatMessage.assistant(*first.parts),
        ChatMessage.tool_result(first.tool_calls[0].id, "18 degrees"),
    ]

    forced = CompletionRequest(history, tools=[WEATHER], tool_choice="required")
    again = await complete(vendor, forced, server)
    auto = await complete(vendor, CompletionRequest(history, tools=[WEATHER]), server)

    assert calls(again) == [("get_weather", PARIS)]
    assert again.tool_calls[0].id != first.tool_calls[0].id
    assert (auto.content, auto.tool_calls) == ("The tool said: 18 degrees", ())


@pytest.mark.parametrize("stream_it", [False, True])
async def test_parallel_mark_calls_each_offered_tool_in_order(vendor: str, stream_it: bool) -> None:
    question = ChatMessage.user("Weather and time in Oslo? [parallel]")
    request = CompletionRequest([question], tools=[WEATHER, CLOCK])

    if stream_it:
        events = await stream(vendor, request)
        end = events[-1]
        assert isinstance(end, StreamEnd)
        response = end.response
        assert sorted(fragments(events)) == [0, 1]
    else:
        response = await complete(vendor, request)

    assert calls(response) == [
        ("get_weather", {"city": "Oslo", "unit": "celsius"}),
        ("get_time", {"zone": "Oslo"}),
    ]
    assert len({call.id for call in response.tool_calls}) == 2
    # Results of parallel calls go back together; the answer quotes each.
    history = [
        question,
        ChatMessage.assistant(*response.parts),
        ChatMessage.tool_result(response.tool_calls[0].id, "rain"),
        ChatMessage.tool_result(response.tool_calls[1].id, "noon"),
    ]
    answer = await complete(vendor, CompletionRequest(history, tools=[WEATHER, CLOCK]))
    assert answer.content == "The tool said: rain The tool said: noon"


async def test_parallel_calls_switched_off_give_one_call(vendor: str) -> None:
    question = ChatMessage.user("Weather and time in Oslo? [parallel]")
    request = CompletionRequest([question], tools=[WEATHER, CLOCK], parallel_tool_calls=False)

    response = await complete(vendor, request)

    # Gemini has no switch: the provider sends nothing, so the fake model still calls both.
    assert len(response.tool_calls) == (2 if vendor == "google" else 1)


async def test_gemini_models_before_3_send_calls_without_ids_or_signatures() -> None:
    request = CompletionRequest([QUESTION], tools=[WEATHER])

    response = await complete_with("gemini-2.0-flash", request)

    [call] = response.tool_calls
    assert call.id.startswith("gemini-")  # generated by the provider: Gemini sent none
    assert call.signature is None


async def test_gemini_3_signs_the_first_call_and_refuses_a_history_without_it() -> None:
    model = "gemini-3-flash-preview"
    tools = [CLOCK, WEATHER]
    question = ChatMessage.user("Time in Oslo? [parallel]")
    response = await complete_with(model, CompletionRequest([question], tools=tools))
    first, second = response.tool_calls
    assert first.signature
    assert second.signature is None
    results = [
        ChatMessage.tool_result(first.id, "noon"),
        ChatMessage.tool_result(second.id, "rain"),
    ]
    unsigned = [msgspec.structs.replace(call, signature=None) for call in response.tool_calls]

    with pytest.raises(InvalidRequestError, match="missing a thought_signature"):
        history = [question, ChatMessage.assistant(*unsigned), *results]
        await complete_with(model, CompletionRequest(history, tools=tools))
    history = [question, ChatMessage.assistant(*response.parts), *results]
    answer = await complete_with(model, CompletionRequest(history, tools=tools))
    assert answer.content == "The tool said: noon The tool said: rain"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.rate_limit, RateLimitError),
        (Fault.server_error, ServerError),
        (Fault.malformed_json, ResponseDecodeError),
    ],
)
async def test_faults_apply_to_a_tool_call_answer(
    vendor: str, fault: Fault, error: type[Exception]
) -> None:
    server = FakeProviderServer(script=[fault])
    request = CompletionRequest([QUESTION], tools=[WEATHER])

    with pytest.raises(error):
        await complete(vendor, request, server)
    assert calls(await complete(vendor, request, server)) == [("get_weather", PARIS)]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.cut_stream, ResponseDecodeError),
        (Fault.mid_stream_error, ServerError),
        (Fault.malformed_json, ResponseDecodeError),
    ],
)
async def test_stream_faults_break_a_tool_call_stream(
    vendor: str, fault: Fault, error: type[Exception]
) -> None:
    server = FakeProviderServer(script=[fault])
    request = CompletionRequest([QUESTION], tools=[WEATHER])
    received: list[StreamEvent] = []

    with pytest.raises(error):
        async with httpx.AsyncClient(transport=server.transport()) as client:
            async for event in provider(vendor, server, client).stream(request):
                received.append(event)

    assert not any(isinstance(event, StreamEnd) for event in received)
    (record,) = server.stats.records
    assert (record.fault, record.ok, record.text) == (fault, False, "")
