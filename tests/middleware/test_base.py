"""The shared helpers of middleware layers in `_base`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ashford_llm.middleware._base import close_stream
from ashford_llm.types import StreamEvent, TextDelta


class Events:
    """An async iterator of one TextDelta with no `aclose`, as a hand-written stream may be."""

    def __init__(self) -> None:
        self.sent = False

    def __aiter__(self) -> Events:
        return self

    async def __anext__(self) -> StreamEvent:
        if self.sent:
            raise StopAsyncIteration
        self.sent = True
        return TextDelta("a")


async def generator(log: list[str]) -> AsyncIterator[StreamEvent]:
    try:
        yield TextDelta("a")
        yield TextDelta("b")
    finally:
        log.append("closed")


async def test_close_stream_runs_a_generator_cleanup_now() -> None:
    log: list[str] = []
    events = generator(log)
    assert await anext(events) == TextDelta("a")
    await close_stream(events)
    assert log == ["closed"]


async def test_close_stream_accepts_an_iterator_without_aclose() -> None:
    events = Events()
    await close_stream(events)
    assert [event async for event in events] == [TextDelta("a")]
