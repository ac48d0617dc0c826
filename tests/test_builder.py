import logging
from collections.abc import AsyncIterator

import pytest

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    ConfigError,
)
from ashford_llm.middleware import Middleware, iter_layers
from ashford_llm.protocol import LLMProvider
from ashford_llm.testing import MockProvider
from ashford_llm.types import StreamEvent

REQUEST = CompletionRequest([ChatMessage.user("hi")])


class Tag(Middleware):
    """Records when it sees the request and the response, in a shared journal."""

    repr_options = ("label",)

    def __init__(self, inner: LLMProvider, *, label: str, journal: list[str]) -> None:
        super().__init__(inner)
        self.label = label
        self.journal = journal

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        self.journal.append(f"request {self.label}")
        response = await self.inner.complete(request)
        self.journal.append(f"response {self.label}")
        return response

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.journal.append(f"stream {self.label}")
        async for event in self.inner.stream(request):
            yield event


class Retry(Middleware):
    """A stand-in named like the real Retry, to trigger the repeated-layer warning."""


async def test_first_use_is_outermost() -> None:
    journal: list[str] = []
    builder = (
        ClientBuilder().use(Tag, label="a", journal=journal).use(Tag, label="b", journal=journal)
    )
    stack = builder.build(MockProvider(["ok"]))
    await stack.complete(REQUEST)
    assert journal == ["request a", "request b", "response b", "response a"]


async def test_stream_passes_through_layers_in_order() -> None:
    journal: list[str] = []
    builder = (
        ClientBuilder().use(Tag, label="a", journal=journal).use(Tag, label="b", journal=journal)
    )
    stack = builder.build(MockProvider(["one two"]))
    events = [event async for event in stack.stream(REQUEST)]
    assert journal == ["stream a", "stream b"]
    assert len(events) == 3


async def test_one_builder_builds_over_two_terminals() -> None:
    journal: list[str] = []
    builder = ClientBuilder().use(Tag, label="outer", journal=journal)
    production = builder.build(MockProvider(["from production"], name="openai"))
    test = builder.build(MockProvider(["from test"], name="mock"))
    assert (await production.complete(REQUEST)).content == "from production"
    assert (await test.complete(REQUEST)).content == "from test"
    assert [type(layer).__name__ for layer in iter_layers(production)] == ["Tag", "MockProvider"]
    assert [type(layer).__name__ for layer in iter_layers(test)] == ["Tag", "MockProvider"]
    assert production.name == "openai"
    assert test.name == "mock"
    assert journal == ["request outer", "response outer"] * 2


def test_use_returns_a_new_builder() -> None:
    base = ClientBuilder()
    extended = base.use(Retry)
    assert base.layers == ()
    assert len(extended.layers) == 1


def test_stack_repr_lists_layers_outermost_first() -> None:
    stack = ClientBuilder().use(Tag, label="x", journal=[]).use(Retry).build(MockProvider([]))
    assert repr(stack) == "Tag(label='x') -> Retry -> MockProvider(name='mock', model='mock-model')"


def test_bad_option_fails_at_build_time() -> None:
    builder = ClientBuilder().use(Tag, labl="x", journal=[])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="labl"):
        builder.build(MockProvider([]))


def test_build_rejects_a_non_provider() -> None:
    with pytest.raises(TypeError, match="LLMProvider"):
        ClientBuilder().build(object())  # type: ignore[arg-type]


def test_two_retry_layers_log_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ashford_llm"):
        ClientBuilder().use(Retry).use(Retry).build(MockProvider([]))
    assert "2 Retry layers" in caplog.text


def test_wrapping_a_built_stack_again_warns_too(caplog: pytest.LogCaptureFixture) -> None:
    inner = ClientBuilder().use(Retry).build(MockProvider([]))
    with caplog.at_level(logging.WARNING, logger="ashford_llm"):
        ClientBuilder().use(Retry).build(inner)
    assert "Retry layers" in caplog.text


async def test_closing_a_stack_closes_its_terminal() -> None:
    terminal = MockProvider([])
    async with ClientBuilder().use(Retry).build(terminal):
        pass
    assert terminal.closed


async def test_from_layers_resolves_dotted_names_in_order() -> None:
    journal: list[str] = []
    builder = ClientBuilder.from_layers(
        [
            ("tests.test_builder:Tag", {"label": "a", "journal": journal}),
            ("tests.test_builder:Tag", {"label": "b", "journal": journal}),
        ]
    )
    await builder.build(MockProvider(["ok"])).complete(REQUEST)
    assert journal == ["request a", "request b", "response b", "response a"]


def test_unknown_layer_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown layer 'Retyr'; known layers: "):
        ClientBuilder.from_layers([("Retyr", {})])


def test_unimportable_layer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot import layer"):
        ClientBuilder.from_layers([("tests.test_builder:Nope", {})])
