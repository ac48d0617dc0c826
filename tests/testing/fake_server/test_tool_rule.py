"""The fake model's tool rule: when it calls, which tool, and the arguments it builds."""

import json
import re
from typing import Any

import msgspec
import pytest

from ashford_llm.testing.fake_server.answers import AnswerRequest, echo, make_answer
from ashford_llm.testing.fake_server.tools import (
    ToolSpec,
    argument_pieces,
    build_arguments,
    plan_calls,
)

CITY = ToolSpec(
    name="get_weather",
    schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ZONE = ToolSpec(
    name="get_time",
    schema={"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)


def ask(text: str, *tools: ToolSpec, vendor: str = "openai", **options: Any) -> AnswerRequest:
    return AnswerRequest(
        vendor=vendor, model="m", messages=(("user", text),), tools=tools, **options
    )


def names(request: AnswerRequest) -> list[str]:
    return [call.name for call in plan_calls(request, "r1")]


@pytest.mark.parametrize(
    ("schema", "text", "expected"),
    [
        (
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
            "What is 2 + 3?",
            {"a": 2, "b": 3},
        ),
        (
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "country": {"type": "string"},
                    "note": {"type": "string"},
                },
                "required": ["city", "country", "note"],
            },
            "Weather in Lyon, France?",
            {"city": "Lyon", "country": "France", "note": "fake-note"},
        ),
        (
            {
                "type": "OBJECT",  # Gemini's Schema
                "properties": {"unit": {"type": "STRING", "enum": ["celsius", "kelvin"]}},
                "required": ["unit"],
            },
            "hello",
            {"unit": "celsius"},
        ),
        (
            {
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date"},
                    "urgent": {"type": "boolean"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "limit": {"type": "integer", "minimum": 10, "maximum": 20},
                    "optional": {"type": "string"},
                },
                "required": ["when", "urgent", "tags", "limit"],
            },
            "show 99 items",
            {"when": "2026-01-01", "urgent": True, "tags": ["fake-tags"], "limit": 20},
        ),
        (
            {
                "$defs": {
                    "Place": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    }
                },
                "type": "object",
                "properties": {
                    "place": {"$ref": "#/$defs/Place"},
                    "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}]},
                    "kind": {"const": "exact"},
                    "ratio": {"type": ["null", "number"]},
                },
                "required": ["place", "maybe", "kind", "ratio"],
            },
            "Go to Rome at 1.5 then 4",
            {"place": {"name": "Rome"}, "maybe": 1.5, "kind": "exact", "ratio": 4},
        ),
        ({}, "anything", {}),
    ],
)
def test_arguments_fill_the_required_properties_from_the_user_text(
    schema: dict[str, Any], text: str, expected: dict[str, Any]
) -> None:
    assert build_arguments(schema, text) == expected


def test_a_self_referencing_schema_stops_at_a_bounded_depth() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/Node"}},
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/Node",
    }

    arguments = build_arguments(schema, "")

    depth = 0
    while isinstance(arguments, dict):
        arguments = arguments["next"]
        depth += 1
    assert (arguments, depth) == (None, 9)  # nine objects deep, then null


def test_offered_tools_are_called_unless_the_choice_is_none() -> None:
    assert names(ask("Weather in Paris", CITY, ZONE)) == ["get_weather"]
    assert names(ask("Weather in Paris", CITY, ZONE, tool_choice="none")) == []
    assert names(ask("Weather in Paris", CITY, ZONE, tool_choice="get_time")) == ["get_time"]
    assert names(ask("Weather in Paris", CITY, ZONE, allowed_tools=("get_time",))) == ["get_time"]
    assert names(ask("Weather in Paris")) == []


def test_the_parallel_mark_calls_every_offered_tool_unless_parallel_calls_are_off() -> None:
    assert names(ask("Both [parallel]", CITY, ZONE)) == ["get_weather", "get_time"]
    assert names(ask("Both [parallel]", CITY, ZONE, tool_choice="required")) == [
        "get_weather",
        "get_time",
    ]
    assert names(ask("Both [parallel]", CITY, ZONE, parallel_tool_calls=False)) == ["get_weather"]
    assert names(ask("Both [parallel]", CITY, ZONE, tool_choice="get_time")) == ["get_time"]


def test_after_a_tool_result_only_a_forced_choice_calls_again() -> None:
    after = AnswerRequest(
        vendor="anthropic",
        model="m",
        messages=(("user", "Weather in Paris"), ("assistant", ""), ("tool", "18C")),
        tools=(CITY,),
    )
    forced = msgspec.structs.replace(after, tool_choice="required")

    assert plan_calls(after, "r1") == ()
    assert echo(after) == "The tool said: 18C"
    assert [call.name for call in plan_calls(forced, "r1")] == ["get_weather"]


@pytest.mark.parametrize(
    ("vendor", "model", "pattern"),
    [
        ("openai", "gpt-4o", r"call_[0-9A-Za-z]{24}"),
        ("anthropic", "claude", r"toolu_01[0-9A-Za-z]{22}"),
        ("gemini", "gemini-3-flash-preview", r"[0-9a-z]{8}"),
        ("gemini", "gemini-2.5-flash", r""),
    ],
)
def test_call_ids_have_the_vendor_shape_and_depend_on_the_response(
    vendor: str, model: str, pattern: str
) -> None:
    request = AnswerRequest(
        vendor=vendor, model=model, messages=(("user", "Both [parallel]"),), tools=(CITY, ZONE)
    )

    first = [call.id for call in plan_calls(request, "r1")]
    again = [call.id for call in plan_calls(request, "r1")]
    other = [call.id for call in plan_calls(request, "r2")]

    assert all(re.fullmatch(pattern, call_id) for call_id in first)
    assert first == again
    assert first != other or pattern == ""
    assert len(set(first)) == (2 if pattern else 1)


def test_a_tool_call_answer_counts_its_calls_and_ignores_max_tokens() -> None:
    request = ask("Weather in Paris", CITY, max_tokens=1)

    answer = make_answer(request, echo, response_id="r1")

    (call,) = answer.calls
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert (answer.text, answer.chunks, answer.finish) == ("", (), "tool_calls")
    assert answer.output_tokens == 3  # get_weather, {"city":, "Paris"}


def test_argument_pieces_join_back_to_the_json_text() -> None:
    text = json.dumps({"city": "São Paulo", "days": 3}, ensure_ascii=False)

    pieces = argument_pieces(text)

    assert "".join(pieces) == text
    assert len(pieces) == 6  # 32 characters, 6 a piece
    assert argument_pieces("") == []
