import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from ashford_llm import (
    CachePoint,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    DocumentPart,
    ImagePart,
    JsonValidationError,
    MidStreamError,
    RateLimitError,
    ReasoningConfig,
    ReasoningPart,
    ServerError,
    StreamEnd,
    TextDelta,
    TextPart,
)
from ashford_llm.cassette import Cassette, RecordedRequest
from ashford_llm.middleware import JsonValidation, RecordedCall, Recorder, Retry
from ashford_llm.testing import MockProvider, MockStream

REQUEST = CompletionRequest([ChatMessage.user("hello there")], temperature=0.2)
KEY = "sk-proj-abcdefghijklmnopqrstuvwx1234"


def ticking(start: float, step: float) -> Callable[[], float]:
    now = [start - step]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def recorder(script: list[object]) -> Recorder:
    return Recorder(
        MockProvider(script),  # type: ignore[arg-type]
        clock=ticking(10.0, 0.25),
        wall_clock=lambda: 1_700_000_000.0,
    )


async def _no_sleep(seconds: float) -> None:
    return None


async def test_complete_is_recorded_with_response_and_timing() -> None:
    layer = recorder(["hi"])
    response = await layer.complete(REQUEST)
    [call] = layer.calls
    assert isinstance(call, RecordedCall)
    assert call.kind == "complete"
    assert call.request == RecordedRequest.of(REQUEST)
    assert call.response == response
    assert call.error is None
    assert call.attempts == 1
    assert call.started_at == 1_700_000_000.0
    assert call.duration_ms == 250.0


async def test_errors_are_recorded_and_reraised_unchanged() -> None:
    error = RateLimitError("slow down", status=429, retry_after=3.0, request_id="req_1")
    layer = recorder([error])
    with pytest.raises(RateLimitError) as caught:
        await layer.complete(REQUEST)
    assert caught.value is error
    [call] = layer.calls
    assert call.response is None
    assert call.error is not None
    assert call.error.error_class == "RateLimitError"
    assert (call.error.status, call.error.retry_after, call.error.request_id) == (
        429,
        3.0,
        "req_1",
    )


async def test_foreign_exceptions_are_recorded_and_reraised_unchanged() -> None:
    error = ValueError("bad thing")
    layer = recorder([error])
    with pytest.raises(ValueError, match="bad thing") as caught:
        await layer.complete(REQUEST)
    assert caught.value is error
    assert layer.calls[0].error is not None
    assert layer.calls[0].error.error_class == "ValueError"
    assert layer.calls[0].error.module == "builtins"


async def test_stream_events_are_recorded() -> None:
    layer = recorder([MockStream(chunks=["a", "b"])])
    events = [event async for event in layer.stream(REQUEST)]
    [call] = layer.calls
    assert call.kind == "stream"
    assert list(call.events) == events
    assert isinstance(call.events[-1], StreamEnd)
    assert call.error is None


async def test_stream_failure_records_events_then_error() -> None:
    cut = MidStreamError("dropped", partial_text="a")
    layer = recorder([MockStream(chunks=["a"], error=cut)])
    with pytest.raises(MidStreamError):
        async for _ in layer.stream(REQUEST):
            pass
    [call] = layer.calls
    assert call.events == (TextDelta("a"),)
    assert call.error is not None
    assert call.error.partial_text == "a"


async def test_abandoned_stream_is_recorded_with_what_the_consumer_saw() -> None:
    layer = recorder([MockStream(chunks=["a", "b", "c"])])
    stream = layer.stream(REQUEST)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    [call] = layer.calls
    assert call.events == (TextDelta("a"),)
    assert call.error is None


async def test_outermost_recorder_sees_retry_attempts() -> None:
    mock = MockProvider([ServerError("boom"), "fine"])
    stack = (
        ClientBuilder()
        .use(Recorder)
        .use(Retry, max_retries=2, jitter=lambda: 0.0, sleep=_no_sleep)
        .build(mock)
    )
    await stack.complete(REQUEST)
    assert isinstance(stack, Recorder)
    assert [call.attempts for call in stack.calls] == [2]


async def test_recorder_above_the_terminal_sees_every_attempt() -> None:
    mock = MockProvider([ServerError("boom"), "fine"])
    stack = (
        ClientBuilder()
        .use(Retry, max_retries=2, jitter=lambda: 0.0, sleep=_no_sleep)
        .use(Recorder)
        .build(mock)
    )
    await stack.complete(REQUEST)
    layer = stack.inner  # type: ignore[attr-defined]
    assert isinstance(layer, Recorder)
    assert [call.error is not None for call in layer.calls] == [True, False]


async def test_saved_cassette_is_versioned_json_that_loads_back(tmp_path: Path) -> None:
    layer = recorder(["one", MockStream(chunks=["t", "wo"]), ServerError("down", status=503)])
    await layer.complete(REQUEST)
    _ = [event async for event in layer.stream(REQUEST)]
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    path = tmp_path / "calls.json"
    layer.save(path)
    raw = json.loads(path.read_text())
    assert raw["version"] == 2
    assert raw["provider"] == "mock"
    assert len(raw["calls"]) == 3
    assert Cassette.load(path).calls == tuple(layer.calls)


async def test_saved_cassette_never_holds_a_key(tmp_path: Path) -> None:
    error = ServerError(f"upstream said invalid key {KEY}", body_excerpt=f"Bearer {KEY}")
    layer = recorder([error, ValueError(f"token {KEY} rejected")])
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    with pytest.raises(ValueError, match="rejected"):
        await layer.complete(REQUEST)
    path = tmp_path / "calls.json"
    layer.save(path)
    text = path.read_text()
    assert KEY not in text
    assert "sk-proj" not in text
    assert "[redacted]" in text


async def test_parsed_is_kept_in_calls_but_not_saved(tmp_path: Path) -> None:
    class Label(msgspec.Struct):
        name: str

    stack = (
        ClientBuilder()
        .use(Recorder)
        .use(JsonValidation, schema=Label)
        .build(MockProvider(['{"name": "x"}']))
    )
    await stack.complete(REQUEST)
    assert isinstance(stack, Recorder)
    assert stack.calls[0].response is not None
    assert stack.calls[0].response.parsed == Label(name="x")
    path = tmp_path / "calls.json"
    stack.save(path)
    saved = Cassette.load(path).calls[0].response
    assert saved is not None
    assert saved.parsed is None


async def test_json_validation_error_output_survives_the_cassette(tmp_path: Path) -> None:
    layer = recorder([JsonValidationError("bad", output="{oops")])
    with pytest.raises(JsonValidationError):
        await layer.complete(REQUEST)
    path = tmp_path / "calls.json"
    layer.save(path)
    error = Cassette.load(path).calls[0].error
    assert error is not None
    rebuilt = error.rebuild()
    assert isinstance(rebuilt, JsonValidationError)
    assert rebuilt.output == "{oops"


def test_recorder_repr_shows_no_options() -> None:
    assert (
        repr(Recorder(MockProvider([])))
        == "Recorder -> MockProvider(name='mock', model='mock-model')"
    )


def test_bad_clock_fails_at_build_time() -> None:
    with pytest.raises(TypeError):
        Recorder(MockProvider([]), clock=3.0)  # type: ignore[arg-type]


# --- format 2: parts, reasoning, attachments as fingerprints ---

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.4\n" + bytes(reversed(range(256))) * 8
ATTACHMENTS = CompletionRequest(
    [
        ChatMessage.system("Classify.", CachePoint()),
        ChatMessage.user(
            "What is attached?",
            ImagePart(IMAGE),
            ImagePart(url="https://example.com/cat.png"),
            ImagePart(url="data:image/png;base64," + base64.b64encode(PDF[:300]).decode()),
            DocumentPart(PDF, name="invoice.pdf"),
        ),
        ChatMessage.assistant(ReasoningPart("Earlier.", signature="sig-1"), "Ok."),
        ChatMessage.user("Now?"),
    ],
    reasoning=ReasoningConfig(effort="low", include_text=True),
    vendor_options={"service_tier": "flex"},
)


def leaks(data: bytes, text: str) -> bool:
    """True if `text` holds the bytes' base64 (standard or URL-safe, at any alignment)."""
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            if encode(data[offset:])[4:64].decode() in text:
                return True
    return False


def test_the_leak_check_finds_base64_at_any_alignment() -> None:
    for offset in range(3):
        assert leaks(IMAGE, "x" + base64.b64encode(IMAGE[offset:]).decode())
    assert not leaks(IMAGE, base64.b64encode(PDF).decode())


async def test_cassette_keeps_attachments_as_fingerprints_never_bytes(tmp_path: Path) -> None:
    layer = recorder(["done"])
    await layer.complete(ATTACHMENTS)
    path = tmp_path / "calls.json"
    layer.save(path)
    text = path.read_text()
    assert not leaks(IMAGE, text)
    assert not leaks(PDF, text)
    assert not leaks(PDF[:300], text)
    parts = json.loads(text)["calls"][0]["request"]["messages"][1]["content"]
    assert parts[1] == {
        "type": "media_ref",
        "kind": "image",
        "media_type": "image/png",
        "size": len(IMAGE),
        "sha256": hashlib.sha256(IMAGE).hexdigest(),
        "name": None,
    }
    assert parts[2] == {"type": "image", "data": None, "url": "https://example.com/cat.png",
                        "media_type": None}  # fmt: skip
    assert parts[3]["sha256"] == hashlib.sha256(PDF[:300]).hexdigest()
    assert parts[4]["kind"] == "document"
    assert parts[4]["name"] == "invoice.pdf"
    loaded = Cassette.load(path)
    assert loaded.calls == tuple(layer.calls)
    assert loaded.calls[0].request == RecordedRequest.of(ATTACHMENTS)
    assert loaded.calls[0].request.messages[1].text == "What is attached?"


async def test_recorder_keeps_no_attachment_bytes_in_memory() -> None:
    layer = recorder(["done"])
    await layer.complete(ATTACHMENTS)
    content = layer.calls[0].request.messages[1].content
    assert isinstance(content, tuple)
    assert [type(part).__name__ for part in content] == [
        "TextPart",
        "MediaRef",
        "ImagePart",
        "MediaRef",
        "MediaRef",
    ]


async def test_reasoning_answers_and_streams_survive_the_cassette(tmp_path: Path) -> None:
    layer = recorder(
        [
            MockStream(reasoning=["Hm", "m."], chunks=["Spam", "."]),
            MockStream(reasoning=["Think."], chunks=["Ham."]),
        ]
    )
    events = [event async for event in layer.stream(REQUEST)]
    response = await layer.complete(REQUEST)
    assert [type(event).__name__ for event in events] == [
        "ReasoningDelta",
        "ReasoningDelta",
        "TextDelta",
        "TextDelta",
        "StreamEnd",
    ]
    path = tmp_path / "calls.json"
    layer.save(path)
    loaded = Cassette.load(path)
    assert loaded.calls == tuple(layer.calls)
    assert loaded.calls[0].events == tuple(events)
    assert loaded.calls[1].response == response
    assert response.parts == (ReasoningPart("Think."), TextPart("Ham."))


def test_recorded_request_has_every_field_of_a_completion_request() -> None:
    assert RecordedRequest.__struct_fields__ == CompletionRequest.__struct_fields__
