"""The fake server's tool-call wire shapes match real recorded answers; bad tools get 400s."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ashford_llm.testing import FakeProviderServer
from tests.providers.real_recordings import REAL_TOOLS
from tests.testing.fake_server.helpers import KEY, request_parts

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS: dict[str, Any] = {
    "openai": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}],
    "anthropic": [{"name": "get_weather", "input_schema": SCHEMA}],
    "gemini": [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": SCHEMA}]}],
}
RECORDED = {
    ("openai", False): "mirascope__python_tests_e2e_output_cassettes_test_call_with_tools_openai_"
    "gpt_4o_completions_async__000.json",
    ("openai", True): "mirascope__python_tests_e2e_output_cassettes_test_call_with_tools_openai_"
    "gpt_4o_completions_async_stream__000.json",
    ("anthropic", False): "mirascope__python_tests_e2e_input_cassettes_test_call_with_mcp_tools_"
    "anthropic_claude_haiku_4_5__000.json",
    ("anthropic", True): "mirascope__python_tests_e2e_output_cassettes_test_call_with_tools_"
    "anthropic_beta_claude_sonnet_4_0_async_stream__000.json",
    ("gemini", False): "pydantic-ai__tests_cassettes_test_tool_search_test_anthropic_to_google_"
    "deferred_capability_history_replay__003.json",
    ("gemini", True): "mirascope__python_tests_e2e_input_cassettes_test_strict_mode_with_tools_"
    "streamed_google_gemini_3_pro_preview__000.json",
}
MODEL = {"openai": "gpt-4o", "anthropic": "claude-test", "gemini": "gemini-3-flash-preview"}


def recorded(vendor: str, stream: bool) -> str:
    folder = "google" if vendor == "gemini" else vendor
    path = REAL_TOOLS / folder / RECORDED[vendor, stream]
    if not path.exists():
        pytest.skip(f"no shared recording {Path(folder) / path.name}")
    body: str = json.loads(path.read_text())["response"]["body_text"]
    return body


async def fake(vendor: str, *, stream: bool, text: str = "Weather in Paris?") -> str:
    server = FakeProviderServer(api_key=KEY)
    path, headers, body = request_parts(vendor, text, stream=stream)
    body["tools"] = TOOLS[vendor]
    if vendor == "gemini":
        path = path.replace("gemini-test", MODEL[vendor])
    else:
        body["model"] = MODEL[vendor]
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url(vendor)
    ) as client:
        response = await client.post(path, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.text


def events(raw: str) -> list[tuple[str | None, Any]]:
    """Reads an SSE body into (event name, JSON data), skipping `[DONE]`."""
    out = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if data and data != "[DONE]":
            out.append((name, json.loads(data)))
    return out


def shape(value: Any) -> Any:
    """Returns a value's structure: keys and JSON types, the first item standing for a list."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def call_shapes(vendor: str, raw: str, stream: bool) -> Any:
    """Returns what a tool-call answer's shape is made of, per vendor, arguments left out."""
    if vendor == "openai" and not stream:
        choice = json.loads(raw)["choices"][0]
        message = choice["message"]
        return sorted(message), shape(message["tool_calls"][0]), choice["finish_reason"]
    if vendor == "openai":
        fragments = [
            json.dumps(shape(call), sort_keys=True)
            for _, chunk in events(raw)
            for choice in chunk["choices"]
            for call in choice["delta"].get("tool_calls", [])
        ]
        finishes = [c["finish_reason"] for _, chunk in events(raw) for c in chunk["choices"]]
        return sorted(set(fragments)), [f for f in finishes if f]
    if vendor == "anthropic" and not stream:
        body = json.loads(raw)
        blocks = [b for b in body["content"] if b["type"] == "tool_use"]
        return sorted(blocks[0]), blocks[0]["id"][:8], body["stop_reason"]
    if vendor == "anthropic":
        starts = [
            data["content_block"]
            for name, data in events(raw)
            if name == "content_block_start" and data["content_block"]["type"] == "tool_use"
        ]
        tool_blocks = {data["index"] for name, data in events(raw) if name == "content_block_start"}
        deltas = [
            data["delta"]
            for name, data in events(raw)
            if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
        ]
        stop = [d["delta"]["stop_reason"] for n, d in events(raw) if n == "message_delta"]
        return (
            shape(starts[0]),
            starts[0]["input"],
            shape(deltas[0]),
            deltas[0]["partial_json"],
            len(tool_blocks) > 0,
            stop,
        )
    chunks = [data for _, data in events(raw)] if stream else [json.loads(raw)]
    layout = [
        (
            ["functionCall" in part for part in chunk["candidates"][0]["content"]["parts"]],
            chunk["candidates"][0].get("finishReason"),
        )
        for chunk in chunks
    ]
    part = next(
        p for c in chunks for p in c["candidates"][0]["content"]["parts"] if "functionCall" in p
    )
    return layout, sorted(part), sorted(part["functionCall"])


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_call_answer_has_the_shape_of_a_real_one(vendor: str, stream: bool) -> None:
    real = recorded(vendor, stream)

    ours = await fake(vendor, stream=stream)

    expected = call_shapes(vendor, real, stream)
    if vendor == "gemini" and stream:
        # The recording is Gemini 3 Pro, which sent no call id; Gemini 3 Flash sends one.
        layout, part_keys, call_keys = expected
        expected = (layout, part_keys, sorted([*call_keys, "id"]))
    assert call_shapes(vendor, ours, stream) == expected


async def test_an_openai_stream_splits_the_arguments_over_several_chunks() -> None:
    raw = await fake("openai", stream=True, text="Weather in Rio de Janeiro please")

    pieces = [
        call["function"]["arguments"]
        for _, chunk in events(raw)
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", [])
    ]
    assert pieces[0] == ""
    assert len(pieces) >= 4
    assert json.loads("".join(pieces)) == {"city": "Rio"}


async def post_tools(vendor: str, **fields: Any) -> httpx.Response:
    server = FakeProviderServer(api_key=KEY)
    path, headers, body = request_parts(vendor, "Weather in Paris?")
    body |= fields
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url(vendor)
    ) as client:
        return await client.post(path, headers=headers, json=body)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
            {
                "message": "Invalid 'tools[0].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                "type": "invalid_request_error",
                "param": "tools[0].function.name",
                "code": "invalid_value",
            },
        ),
        (
            {"tools": [{"type": "function", "function": {"parameters": SCHEMA}}]},
            {
                "message": "Missing required parameter: 'tools[0].function.name'.",
                "type": "invalid_request_error",
                "param": "tools[0].function.name",
                "code": "missing_required_parameter",
            },
        ),
        (
            {"tool_choice": "auto"},
            {
                "message": "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                "'tools' are specified.",
                "type": "invalid_request_error",
                "param": "tool_choice",
                "code": None,
            },
        ),
    ],
)
async def test_openai_refuses_malformed_tools_with_its_error_object(
    fields: dict[str, Any], error: dict[str, Any]
) -> None:
    response = await post_tools("openai", **fields)

    assert (response.status_code, response.json()) == (400, {"error": error})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tools": [{"name": "get.weather", "input_schema": SCHEMA}]},
            "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        ),
        ({"tools": [{"name": "get_weather"}]}, "tools.0.custom.input_schema: Field required"),
        (
            {
                "messages": [
                    {"role": "user", "content": "Weather?"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "toolu_01A", "name": "w", "input": {}},
                            {"type": "tool_use", "id": "toolu_01B", "name": "w", "input": {}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "x"}
                        ],
                    },
                ]
            },
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
            "after: toolu_01B. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message.",
        ),
    ],
)
async def test_anthropic_refuses_malformed_tools_with_its_message(
    fields: dict[str, Any], message: str
) -> None:
    response = await post_tools("anthropic", **fields)

    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


async def test_anthropic_refuses_manual_thinking_with_a_forced_tool_choice() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    tools = [{"name": "get_weather", "input_schema": SCHEMA}]

    forced = await post_tools(
        "anthropic", max_tokens=2048, thinking=thinking, tools=tools, tool_choice={"type": "any"}
    )
    free = await post_tools("anthropic", max_tokens=2048, thinking=thinking, tools=tools)

    assert forced.status_code == 400
    assert forced.json()["error"]["message"] == (
        "Thinking may not be enabled when tool_choice forces tool use."
    )
    assert free.status_code == 200
    assert [block["type"] for block in free.json()["content"]] == ["thinking", "tool_use"]


async def test_gemini_refuses_an_invalid_function_name() -> None:
    declaration = {"name": "1st-tool", "parametersJsonSchema": SCHEMA}

    response = await post_tools("gemini", tools=[{"functionDeclarations": [declaration]}])

    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(
        "The GenerateContentRequest proto is invalid:\n"
        "  * tools[0].function_declarations[0].name: [FIELD_INVALID] Invalid function name."
    )


async def test_gemini_refuses_a_function_response_without_a_name() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"response": {"result": "x"}}}]},
    ]

    response = await post_tools("gemini", contents=contents)

    assert response.status_code == 400
    assert "contents[2].parts[0].function_response.name" in response.json()["error"]["message"]


CALL = {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("messages", "message", "param"),
    [
        (
            [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "user", "content": "Well?"},
            ],
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            "response messages: call_1",
            "messages.[2].role",
        ),
        (
            [
                {"role": "user", "content": "Weather?"},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            "messages.[1].role",
        ),
    ],
)
async def test_openai_refuses_calls_and_results_that_do_not_pair_up(
    messages: list[dict[str, Any]], message: str, param: str
) -> None:
    response = await post_tools("openai", messages=messages, tools=TOOLS["openai"])

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["param"]) == (message, param)
