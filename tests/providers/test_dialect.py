"""The vendor seam: one HTTPProvider driven by a dialect, and the pieces dialects share."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    InvalidRequestError,
    LLMError,
    ModelConfig,
    ProviderInfo,
    ResponseDecodeError,
    ServerError,
    StreamEnd,
    TextDelta,
)
from ashford_llm.providers import (
    AnthropicProvider,
    GoogleProvider,
    HTTPProvider,
    OpenAIDialect,
    OpenAIProvider,
)
from ashford_llm.providers.dialect import NO_DELTAS, Delta, deep_merge, read_sse

KEY = "sk-test-1234567890abcdef"
HELLO = CompletionRequest([ChatMessage.user("hi")])


class EchoDecoder:
    """Streams each `data:` line back as text; `[END]` ends the stream."""

    def __init__(self) -> None:
        self.done = False
        self.texts: list[str] = []

    @property
    def complete(self) -> bool:
        return self.done

    @property
    def usage(self) -> tuple[int | None, int | None]:
        return None, len(self.texts)

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        if data == "[END]":
            self.done = True
            return NO_DELTAS
        if data == "[FAIL]":
            raise ServerError("the vendor failed mid-stream")
        self.texts.append(data)
        return (TextDelta(data),)

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        return CompletionResponse(
            content="".join(self.texts),
            model="echo-1",
            input_tokens=1,
            output_tokens=len(self.texts),
            latency_ms=latency_ms,
            finish_reason="stop",
            provider="echo",
            request_id=request_id,
        )


class EchoDialect:
    """A made-up vendor: the whole wire format in one small object."""

    name = "echo"
    otel_provider_name = "echo.ai"
    model = "echo-1"
    base_url = "https://echo.example:8443/api"
    request_id_header = "x-echo-id"
    stream_content_type = "text/event-stream"

    def url(self, *, stream: bool) -> str:
        return f"{self.base_url}/{'stream' if stream else 'say'}"

    def headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Echo {key}"}

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        if request.messages[-1].text == "refuse":
            raise InvalidRequestError("the echo vendor refuses to say that")
        return msgspec.json.encode({"say": request.messages[-1].text})

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        decoder = EchoDecoder()
        decoder.feed("", json.loads(body)["said"])
        return decoder.response(latency_ms, request_id)

    def stream_decoder(self) -> EchoDecoder:
        return EchoDecoder()

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        return read_sse(response, self.error_in_body)

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        return ServerError(f"echo said {status}")

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        return ServerError("echo error in body") if "oops" in str(body) else None


def echo_vendor(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == f"Echo {KEY}"
    said = json.loads(request.content)["say"]
    if request.url.path.endswith("/say"):
        return httpx.Response(200, json={"said": said}, headers={"x-echo-id": "e-1"})
    lines = f"data: {said}\n\ndata: again\n\ndata: [END]\n\n"
    return httpx.Response(
        200, text=lines, headers={"content-type": "text/event-stream", "x-echo-id": "e-2"}
    )


def echo_provider() -> HTTPProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(echo_vendor))
    return HTTPProvider(EchoDialect(), api_key=KEY, http_client=client, max_output_tokens=77)


async def test_a_new_vendor_is_a_dialect_object_not_a_provider_subclass() -> None:
    provider = echo_provider()
    response = await provider.complete(HELLO)
    assert (response.content, response.request_id) == ("hi", "e-1")
    events = [event async for event in provider.stream(HELLO)]
    assert events[:2] == [TextDelta("hi"), TextDelta("again")]
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.content == "hiagain"
    assert events[-1].response.request_id == "e-2"


def test_the_provider_describes_itself_from_its_dialect() -> None:
    assert echo_provider().info == ProviderInfo(
        name="echo",
        model="echo-1",
        otel_provider_name="echo.ai",
        server_address="echo.example",
        server_port=8443,
        max_output_tokens=77,
    )


async def test_a_request_the_dialect_refuses_names_the_provider_and_sends_nothing() -> None:
    sent: list[httpx.Request] = []
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: sent.append(r) or echo_vendor(r))
    )  # type: ignore[func-returns-value]
    provider = HTTPProvider(EchoDialect(), api_key=KEY, http_client=client)
    with pytest.raises(InvalidRequestError, match="refuses") as caught:
        await provider.complete(CompletionRequest([ChatMessage.user("refuse")]))
    assert caught.value.provider == "echo"
    assert sent == []


@pytest.mark.parametrize(
    ("provider", "otel_name", "address"),
    [
        (
            OpenAIProvider(ModelConfig("openai", "gpt-4o-mini"), api_key=KEY),
            "openai",
            "api.openai.com",
        ),
        (
            AnthropicProvider(ModelConfig("anthropic", "claude-haiku-4-5"), api_key=KEY),
            "anthropic",
            "api.anthropic.com",
        ),
        (
            GoogleProvider(ModelConfig("gemini", "gemini-2.5-flash"), api_key="AIza" + "x" * 35),
            "gcp.gemini",
            "generativelanguage.googleapis.com",
        ),
    ],
)
def test_built_in_providers_describe_vendor_server_and_defaults(
    provider: HTTPProvider, otel_name: str, address: str
) -> None:
    info = provider.info
    assert (info.otel_provider_name, info.server_address, info.server_port) == (
        otel_name,
        address,
        443,
    )
    assert info.max_output_tokens == 1024


@pytest.mark.parametrize(
    ("cls", "provider"),
    [(OpenAIProvider, "anthropic"), (AnthropicProvider, "openai"), (GoogleProvider, "openai")],
)
def test_a_config_for_another_vendor_is_refused_when_built(cls: Any, provider: str) -> None:
    with pytest.raises(ValueError, match=r"config\.provider is"):
        cls(ModelConfig(provider, "some-model"), api_key=KEY)


def test_an_openai_compatible_vendor_is_a_dialect_under_its_own_name() -> None:
    dialect = OpenAIDialect(
        ModelConfig("openai", "llama-3.1-8b"),
        name="groq",
        base_url="https://api.groq.com/openai/v1",
    )
    provider = HTTPProvider(dialect, api_key=KEY)
    assert provider.name == "groq"
    assert provider.info.otel_provider_name == "groq"
    assert dialect.url(stream=False) == "https://api.groq.com/openai/v1/chat/completions"


def sse_response(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


async def frames_of(text: str) -> list[tuple[str, str]]:
    return [frame async for frame in read_sse(sse_response(text), EchoDialect().error_in_body)]


async def test_read_sse_joins_multi_line_data_and_names_events() -> None:
    text = ": a comment\nevent: delta\ndata: one\ndata: two\nid: 7\n\ndata: three\n\n"
    assert await frames_of(text) == [("delta", "one\ntwo"), ("", "three")]


async def test_read_sse_keeps_a_last_event_without_a_blank_line() -> None:
    assert await frames_of("data: last") == [("", "last")]


async def test_read_sse_ignores_stray_lines_unless_they_hold_an_error() -> None:
    assert await frames_of("data: a\n\nnot a field\n\n") == [("", "a")]
    with pytest.raises(ServerError, match="in body"):
        await frames_of('data: a\n\n{"oops": true}\n')


async def test_an_error_in_a_stream_carries_the_provider_and_the_usage_so_far() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return sse_response("data: one\n\ndata: [FAIL]\n\n")

    client = httpx.AsyncClient(transport=httpx.MockTransport(failing))
    provider = HTTPProvider(EchoDialect(), api_key=KEY, http_client=client)
    events = []
    with pytest.raises(ServerError) as caught:
        async for event in provider.stream(HELLO):
            events.append(event)
    assert events == [TextDelta("one")]
    assert (caught.value.provider, caught.value.output_tokens) == ("echo", 1)


async def test_a_stream_without_its_terminal_event_is_a_decode_error() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: sse_response("data: a\n\n")))
    provider = HTTPProvider(EchoDialect(), api_key=KEY, http_client=client)
    with pytest.raises(ResponseDecodeError, match="ended before") as caught:
        async for _ in provider.stream(HELLO):
            pass
    assert caught.value.provider == "echo"


def test_deep_merge_merges_objects_key_by_key_and_lets_options_win() -> None:
    body = {"model": "m", "generationConfig": {"temperature": 0.1, "topK": 3}, "tools": [1]}
    merged = deep_merge(body, {"generationConfig": {"temperature": 0.9}, "tools": [2], "x": 1})
    assert merged == {
        "model": "m",
        "generationConfig": {"temperature": 0.9, "topK": 3},
        "tools": [2],
        "x": 1,
    }


VENDOR_OPTIONS = {"service_tier": "flex", "metadata": {"job": "j-1"}}


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (
            OpenAIProvider(ModelConfig("openai", "gpt-4o-mini", max_output_tokens=5), api_key=KEY),
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "max_completion_tokens": 5,
                "top_p": 0.5,
                "seed": 7,
                "service_tier": "flex",
                "metadata": {"job": "j-1"},
            },
        ),
        (
            AnthropicProvider(
                ModelConfig("anthropic", "claude-haiku-4-5", max_output_tokens=5), api_key=KEY
            ),
            {
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "top_p": 0.5,
                "service_tier": "flex",
                "metadata": {"job": "j-1"},
            },
        ),
        (
            GoogleProvider(
                ModelConfig("google", "gemini-2.5-flash", max_output_tokens=5),
                api_key="AIza" + "x" * 35,
            ),
            {
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"maxOutputTokens": 5, "topP": 0.5, "seed": 7},
                "service_tier": "flex",
                "metadata": {"job": "j-1"},
            },
        ),
    ],
)
def test_sampling_options_and_vendor_options_reach_the_body(
    provider: HTTPProvider, expected: dict[str, Any]
) -> None:
    request = CompletionRequest(
        [ChatMessage.user("hi")], top_p=0.5, seed=7, vendor_options=VENDOR_OPTIONS
    )
    assert json.loads(provider.dialect.encode(request, stream=False)) == expected
