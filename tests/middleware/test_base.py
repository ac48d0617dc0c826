"""The shared helpers of middleware layers in `_base`."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ashford_llm.middleware._base import Middleware, check_seconds, format_option
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider


async def test_a_layer_forwards_the_terminal_info() -> None:
    mock = MockProvider(["hi"], name="vendor", model="m-1")
    stack = Middleware(Middleware(mock))
    assert stack.info == ProviderInfo(name="vendor", model="m-1")
    assert stack.name == "vendor"


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
