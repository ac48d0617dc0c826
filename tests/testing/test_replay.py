import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    ImagePart,
    JsonValidationError,
    LLMError,
    MidStreamError,
    ModelConfig,
    QuotaExhaustedError,
    RateLimitError,
    ReasoningDelta,
    ReasoningPart,
    ServerError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
)
from ashford_llm.cassette import Cassette, RecordedError, RecordedRequest
from ashford_llm.middleware import JsonValidation, RecordedCall, Recorder
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.anthropic import AnthropicProvider
from ashford_llm.providers.openai import OpenAIProvider
from ashford_llm.testing import MockProvider, MockStream, Replay, ReplayMismatchError
from tests.providers.real_recordings import recordings, transport_for

FIRST = CompletionRequest([ChatMessage.user("first question")])
SECOND = CompletionRequest([ChatMessage.user("second question")], max_tokens=50)
THIRD = CompletionRequest([ChatMessage.system("be brief"), ChatMessage.user("third")])


def canned(text: str) -> CompletionResponse:
    return CompletionResponse(
        content=text,
        model="gpt-test",
        input_tokens=12,
        output_tokens=3,
        latency_ms=321.5,
        finish_reason="stop",
        provider="openai",
        response_id="resp_1",
        request_id="req_1",
        cached_input_tokens=4,
        reasoning_tokens=0,
    )


def call(request: CompletionRequest, text: str) -> RecordedCall:
    return RecordedCall(
        request=RecordedRequest.of(request),
        kind="complete",
        response=canned(text),
        started_at=0.0,
        duration_ms=1.0,
    )


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


async def record_session(recorder: Recorder) -> list[object]:
    """Makes a mixed set of calls and returns what each produced (response, events or error)."""
    outcomes: list[object] = []
    outcomes.append(await recorder.complete(FIRST))
    outcomes.append(await collect(recorder.stream(SECOND)))
    try:
        await recorder.complete(THIRD)
    except RateLimitError as error:
        outcomes.append((type(error), str(error), error.retry_after))
    events: list[StreamEvent] = []
    try:
        async for event in recorder.stream(FIRST):
            events.append(event)
    except MidStreamError as error:
        outcomes.append((events, type(error), error.partial_text))
    return outcomes


async def replay_session(replay: Replay) -> list[object]:
    outcomes: list[object] = []
    outcomes.append(await replay.complete(FIRST))
    outcomes.append(await collect(replay.stream(SECOND)))
    try:
        await replay.complete(THIRD)
    except RateLimitError as error:
        outcomes.append((type(error), str(error), error.retry_after))
    events: list[StreamEvent] = []
    try:
        async for event in replay.stream(FIRST):
            events.append(event)
    except MidStreamError as error:
        outcomes.append((events, type(error), error.partial_text))
    return outcomes


def mock_for_session() -> MockProvider:
    return MockProvider(
        [
            canned("one"),
            MockStream(chunks=["tw", "o"]),
            RateLimitError("slow down", status=429, retry_after=2.5, provider="openai"),
            MockStream(chunks=["par"], error=MidStreamError("cut", partial_text="par")),
        ],
        name="openai",
    )


@pytest.mark.parametrize("match", ["sequence", "request"])
async def test_record_save_replay_gives_identical_results(tmp_path: Path, match: str) -> None:
    recorder = Recorder(mock_for_session())
    recorded = await record_session(recorder)
    path = tmp_path / "session.json"
    recorder.save(path)
    replay = Replay(path, match=match)  # type: ignore[arg-type]
    assert await replay_session(replay) == recorded
    assert len(recorded) == 4
    assert replay.remaining == 0
    assert replay.name == "openai"


async def test_replay_serves_recorder_calls_directly() -> None:
    recorder = Recorder(mock_for_session())
    recorded = await record_session(recorder)
    replay = Replay(recorder.calls)
    assert await replay_session(replay) == recorded
    assert replay.name == "replay"


async def test_replay_takes_its_source_as_path_or_calls(tmp_path: Path) -> None:
    recorder = Recorder(mock_for_session())
    recorded = await record_session(recorder)
    recorder.save(tmp_path / "session.json")
    by_calls = Replay(path_or_calls=recorder.calls)
    by_path = Replay(path_or_calls=tmp_path / "session.json")
    assert await replay_session(by_calls) == recorded
    assert await replay_session(by_path) == recorded


async def test_sequence_serves_in_order_whatever_the_request() -> None:
    replay = Replay([call(FIRST, "a"), call(SECOND, "b")])
    assert (await replay.complete(THIRD)).content == "a"
    assert (await replay.complete(THIRD)).content == "b"


async def test_sequence_exhausted_names_the_position() -> None:
    replay = Replay([call(FIRST, "a")])
    await replay.complete(FIRST)
    with pytest.raises(ReplayMismatchError, match=r"complete call 2 \(the cassette holds 1\)"):
        await replay.complete(SECOND)


async def test_request_match_serves_the_matching_call_out_of_order() -> None:
    replay = Replay([call(FIRST, "a"), call(SECOND, "b"), call(FIRST, "c")], match="request")
    assert (await replay.complete(SECOND)).content == "b"
    assert (await replay.complete(FIRST)).content == "a"
    assert (await replay.complete(FIRST)).content == "c"


async def test_request_match_compares_options_too() -> None:
    replay = Replay([call(SECOND, "b")], match="request")
    changed = msgspec.structs.replace(SECOND, max_tokens=51)
    with pytest.raises(ReplayMismatchError) as caught:
        await replay.complete(changed)
    message = str(caught.value)
    assert "user: second question" in message
    assert "max_tokens=51" in message
    assert "#1 (differs in max_tokens)" in message


async def test_unmatched_request_shows_the_closest_candidates_first() -> None:
    near = CompletionRequest([ChatMessage.user("second questions")])
    replay = Replay([call(FIRST, "a"), call(near, "b"), call(THIRD, "c")], match="request")
    with pytest.raises(ReplayMismatchError) as caught:
        await replay.complete(CompletionRequest([ChatMessage.user("second question")]))
    lines = str(caught.value).splitlines()
    assert lines[1] == "[user: second question]"
    assert lines[3].startswith("  #2 (differs in messages): [user: second questions]")


async def test_request_match_says_when_every_call_was_served() -> None:
    replay = Replay([call(FIRST, "a")], match="request")
    await replay.complete(FIRST)
    with pytest.raises(ReplayMismatchError, match="every one of the 1 recorded calls was served"):
        await replay.complete(FIRST)


async def test_recorded_complete_can_be_streamed() -> None:
    events = await collect(Replay([call(FIRST, "whole text")]).stream(FIRST))
    assert events == [TextDelta("whole text"), StreamEnd(canned("whole text"))]


async def test_recorded_stream_can_be_completed() -> None:
    recorder = Recorder(MockProvider([MockStream(chunks=["a", "b"])]))
    streamed = await collect(recorder.stream(FIRST))
    response = await Replay(recorder.calls).complete(FIRST)
    assert isinstance(streamed[-1], StreamEnd)
    assert response == streamed[-1].response
    assert response.content == "ab"


async def test_abandoned_recorded_stream_cannot_be_completed() -> None:
    recorder = Recorder(MockProvider([MockStream(chunks=["a", "b"])]))
    stream = recorder.stream(FIRST)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    with pytest.raises(ReplayMismatchError, match="stopped by its consumer"):
        await Replay(recorder.calls).complete(FIRST)


async def test_errors_come_back_as_their_class_with_attributes() -> None:
    error = QuotaExhaustedError(
        "quota used up", status=429, error_type="insufficient_quota", request_id="req_7"
    )
    recorded = RecordedCall(
        request=FIRST,
        kind="complete",
        error=RecordedError.from_exception(error),
        started_at=0.0,
        duration_ms=1.0,
    )
    with pytest.raises(QuotaExhaustedError) as caught:
        await Replay([recorded]).complete(FIRST)
    assert caught.value.context() == error.context()
    assert caught.value is not error


@pytest.mark.parametrize(
    "error",
    [
        ServerError("cut", status=502, body_excerpt="<html>", should_retry=False, input_tokens=9),
        MidStreamError("cut", partial_text="Hel", input_tokens=12, output_tokens=3, attempts=2),
        JsonValidationError("not JSON", output="{", attempts=1),
    ],
)
def test_a_recorded_error_keeps_its_whole_context(error: LLMError) -> None:
    recorded = RecordedError.from_exception(error)
    decoded = msgspec.json.decode(msgspec.json.encode(recorded), type=RecordedError)
    rebuilt = decoded.rebuild()
    assert type(rebuilt) is type(error)
    assert isinstance(rebuilt, LLMError)
    assert rebuilt.context() == error.context()


def test_builtin_errors_rebuild_as_themselves() -> None:
    rebuilt = RecordedError.from_exception(KeyError("k")).rebuild()
    assert type(rebuilt) is KeyError
    assert rebuilt.args == ("'k'",)


def test_other_foreign_errors_rebuild_as_runtime_error_naming_the_class() -> None:
    rebuilt = RecordedError.from_exception(msgspec.DecodeError("bad bytes")).rebuild()
    assert type(rebuilt) is RuntimeError
    assert str(rebuilt) == "msgspec.DecodeError: bad bytes"


async def test_json_validation_above_replay_decodes_parsed_again(tmp_path: Path) -> None:
    class Label(msgspec.Struct):
        name: str

    ask = CompletionRequest([ChatMessage.user("label")], json_mode=True)
    recording = ClientBuilder().use(JsonValidation, schema=Label).use(Recorder)
    recorder_stack = recording.build(MockProvider(['{"name": "x"}']))
    original = await recorder_stack.complete(ask)
    recorder = recorder_stack.inner  # type: ignore[attr-defined]
    path = tmp_path / "labels.json"
    recorder.save(path)
    replayed = await recording.build(Replay(path, match="request")).complete(ask)
    assert replayed == original
    assert replayed.parsed == Label(name="x")


def test_cassette_with_unknown_fields_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": 1, "provider": "x", "calls": [], "extra": 1}))
    with pytest.raises(ValueError, match="not a valid cassette"):
        Replay(path)


def test_cassette_of_another_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"version": 3, "provider": "x", "calls": []}))
    with pytest.raises(ValueError, match="cassette version 3"):
        Cassette.load(path)


def test_non_json_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk.json"
    path.write_text("<html>")
    with pytest.raises(ValueError, match="is not a cassette"):
        Cassette.load(path)


@pytest.mark.parametrize(
    ("path_or_calls", "options", "error"),
    [
        ([], {"match": "fuzzy"}, ValueError),
        (["not a call"], {}, TypeError),
        (42, {}, TypeError),
    ],
)
def test_bad_arguments_fail_at_construction(
    path_or_calls: Any, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Replay(path_or_calls, **options)


async def test_replay_closes_and_names_itself() -> None:
    cassette = Cassette(provider="anthropic", calls=(call(FIRST, "a"),))
    async with Replay(cassette, name="fixture") as replay:
        assert replay.name == "fixture"
        assert repr(replay) == "Replay(name='fixture', match='sequence', calls=1)"
    assert replay.closed


KEYS = {"openai": "sk-proj-replaytest0123456789", "anthropic": "sk-ant-api03-replaytest-0123456789"}


def real_provider(config: ModelConfig, client: httpx.AsyncClient) -> LLMProvider:
    kind = OpenAIProvider if config.provider == "openai" else AnthropicProvider
    return kind(config, api_key=KEYS[config.provider], http_client=client)


async def outcome(provider: LLMProvider, request: CompletionRequest, streamed: bool) -> object:
    """Runs one call and returns what the caller saw: events, a response, or the error."""
    events: list[StreamEvent] = []
    try:
        if not streamed:
            return await provider.complete(request)
        async for event in provider.stream(request):
            events.append(event)
    except LLMError as error:
        return (events, type(error), error.context())
    return events


@pytest.mark.parametrize("path", recordings("openai") + recordings("anthropic"))
async def test_real_vendor_exchange_records_and_replays_identically(
    path: Path, tmp_path: Path
) -> None:
    recording = json.loads(path.read_text())
    expected = recording["expected"]
    streamed = expected["kind"] == "stream" or expected.get("stream", False)
    config = ModelConfig(recording["provider"], recording["model"], max_output_tokens=256)
    request = CompletionRequest([ChatMessage.user("Hello")])
    async with httpx.AsyncClient(transport=transport_for(recording, [])) as client:
        recorder = Recorder(real_provider(config, client))
        original = await outcome(recorder, request, streamed)
    cassette = tmp_path / "real.json"
    recorder.save(cassette)
    assert KEYS[recording["provider"]] not in cassette.read_text()
    replay = Replay(cassette, match="request")
    assert replay.name == recording["provider"]
    assert await outcome(replay, request, streamed) == original


# --- format 2: attachments matched by fingerprint, reasoning served; format 1 still loads ---

V1_CASSETTE = Path(__file__).parent / "cassettes" / "v1.json"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def with_image(data: bytes) -> CompletionRequest:
    return CompletionRequest(
        [ChatMessage.user("Classify this", ImagePart(data), DocumentPart(b"%PDF-1.4 x"))]
    )


async def test_request_match_finds_attachments_by_their_sha256(tmp_path: Path) -> None:
    recorder = Recorder(MockProvider(["cat", "dog"], name="openai"))
    await recorder.complete(with_image(IMAGE))
    await recorder.complete(with_image(IMAGE + b"other"))
    path = tmp_path / "images.json"
    recorder.save(path)
    replay = Replay(path, match="request")
    # Fresh requests carrying real bytes, out of the recorded order.
    assert (await replay.complete(with_image(bytes(IMAGE + b"other")))).content == "dog"
    assert (await replay.complete(with_image(bytes(IMAGE)))).content == "cat"


async def test_request_match_rejects_different_attachment_bytes(tmp_path: Path) -> None:
    recorder = Recorder(MockProvider(["cat"], name="openai"))
    await recorder.complete(with_image(IMAGE))
    path = tmp_path / "images.json"
    recorder.save(path)
    replay = Replay(path, match="request")
    with pytest.raises(ReplayMismatchError, match="differs in messages"):
        await replay.complete(with_image(IMAGE[:-1] + b"\x00"))


async def test_recorded_reasoning_deltas_are_served_in_order(tmp_path: Path) -> None:
    recorder = Recorder(MockProvider([MockStream(reasoning=["a", "b"], chunks=["c"])]))
    recorded = await collect(recorder.stream(FIRST))
    path = tmp_path / "reasoning.json"
    recorder.save(path)
    served = await collect(Replay(path).stream(FIRST))
    assert served == recorded
    assert served[:3] == [ReasoningDelta("a"), ReasoningDelta("b"), TextDelta("c")]


async def test_recorded_complete_with_reasoning_streams_it_before_the_text() -> None:
    response = msgspec.structs.replace(
        canned(""), parts=(ReasoningPart("why"), TextPart("because"))
    )
    recorded = RecordedCall(
        request=RecordedRequest.of(FIRST),
        kind="complete",
        response=response,
        started_at=0.0,
        duration_ms=1.0,
    )
    served = await collect(Replay([recorded]).stream(FIRST))
    assert served == [ReasoningDelta("why"), TextDelta("because"), StreamEnd(response)]


def test_a_version_1_cassette_loads_as_version_2() -> None:
    """The fixture was written by the library before format 2 (text only)."""
    assert json.loads(V1_CASSETTE.read_text())["version"] == 1
    cassette = Cassette.load(V1_CASSETTE)
    assert cassette.version == 2
    assert [call.kind for call in cassette.calls] == ["complete", "stream", "complete"]
    first = cassette.calls[0]
    assert first.request.messages[1].text == "WIN A PRIZE"
    assert first.response is not None
    assert first.response.parts == (TextPart("Spam."),)
    assert first.response.reasoning_text is None


async def test_a_version_1_cassette_replays_by_request(tmp_path: Path) -> None:
    replay = Replay(V1_CASSETTE, match="request")
    spam = CompletionRequest(
        [ChatMessage.system("Classify the e-mail."), ChatMessage.user("WIN A PRIZE")],
        temperature=0.0,
        max_tokens=5,
        stop=["\n"],
    )
    assert (await replay.complete(spam)).content == "Spam."
    events = await collect(
        replay.stream(CompletionRequest([ChatMessage.user("Meeting at 3?")], json_mode=True))
    )
    assert events[:2] == [TextDelta("Not "), TextDelta("spam.")]
    with pytest.raises(RateLimitError, match="slow down") as caught:
        await replay.complete(CompletionRequest([ChatMessage.user("again")]))
    assert caught.value.retry_after == 2.0
    # Saved again, it is written as version 2.
    path = tmp_path / "upgraded.json"
    Cassette.load(V1_CASSETTE).save(path)
    assert json.loads(path.read_text())["version"] == 2
    assert Cassette.load(path) == Cassette.load(V1_CASSETTE)
