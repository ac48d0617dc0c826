"""The shared helpers of middleware layers in `_base`."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ashford_llm.middleware._base import check_seconds, close_stream, format_option
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


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (2, {}, 2.0),
        (0, {}, 0.0),
        (0.25, {"positive": True}, 0.25),
        (None, {"allow_none": True}, None),
        (None, {"allow_none": True, "positive": True}, None),
    ],
)
def test_check_seconds_accepts_finite_durations(
    value: Any, options: dict[str, Any], expected: float | None
) -> None:
    checked = check_seconds("delay", value, **options)
    assert checked == expected
    assert checked is None or type(checked) is float


@pytest.mark.parametrize(
    ("value", "options", "bound"),
    [
        (-1, {}, ">= 0"),
        (0, {"positive": True}, "> 0"),
        (math.nan, {}, ">= 0"),
        (math.inf, {"positive": True}, "> 0"),
        (True, {}, ">= 0"),
        ("3", {}, ">= 0"),
        (None, {}, ">= 0,"),
        (-2.0, {"positive": True, "allow_none": True}, "> 0 or None"),
    ],
)
def test_check_seconds_names_the_option_and_the_bound(
    value: Any, options: dict[str, Any], bound: str
) -> None:
    with pytest.raises(ValueError, match="delay must be a finite number of seconds") as caught:
        check_seconds("delay", value, **options)
    assert bound in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("value", "shown"), [(30.0, "30"), (2.5, "2.5"), (4, "4"), ("x", "'x'"), (None, "None")]
)
def test_option_values_are_formatted_compactly(value: object, shown: str) -> None:
    assert format_option(value) == shown
