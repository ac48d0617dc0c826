"""Replays the real recorded vendor exchanges through a provider.

`../shared/fixtures/real` holds answers to requests without tools, `real-tools` the answers to
requests that offered tools (`expected.tool_calls` gives each call's name, id and arguments);
a vendor's replay test covers both folders.

Without ../shared the replays are skipped, except under CI (the environment variable CI
set), where collecting them fails: CI must replay every recording.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    LLMError,
    ModelConfig,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from ashford_llm.protocol import LLMProvider

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
REAL = FIXTURES / "real"
REAL_TOOLS = FIXTURES / "real-tools"
# The recordings label Gemini "gemini", an alias; providers report their canonical name.
CANONICAL_NAMES = {"gemini": "google"}


def recordings(vendor: str, *, root: Path = REAL) -> list[Any]:
    """Returns pytest params, one per recorded exchange of `vendor`; a skip if they are absent.

    Under CI an absent or empty folder fails the collection instead, naming the folder.
    """
    folder = root / vendor
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        reason = f"no shared recordings in {folder} (../shared/fixtures/{root.name}/{vendor})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI replays every recording", pytrace=False)
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(path, id=f"{root.name}-{path.stem[-60:]}") for path in paths]


def all_recordings(vendor: str) -> list[Any]:
    """Returns the params of both folders: answers without tools, then with them."""
    return recordings(vendor) + recordings(vendor, root=REAL_TOOLS)


def transport_for(recording: dict[str, Any], seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers every request with the recorded response, and keeps the requests."""
    response = recording["response"]
    headers = [(k, v) for k, v in response["headers"].items() if k.lower() != "content-length"]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            response["status"], headers=headers, content=response["body_text"].encode()
        )

    return httpx.MockTransport(handler)


async def replay(
    path: Path,
    make_provider: Callable[[ModelConfig, httpx.AsyncClient], LLMProvider],
) -> list[httpx.Request]:
    """Replays one recording through a provider and checks the outcome against `expected`."""
    recording = json.loads(path.read_text())
    expected = recording["expected"]
    name = CANONICAL_NAMES.get(recording["provider"], recording["provider"])
    seen: list[httpx.Request] = []
    config = ModelConfig(recording["provider"], recording["model"], max_output_tokens=256)
    request = CompletionRequest([ChatMessage.user("Hello")])
    async with httpx.AsyncClient(transport=transport_for(recording, seen)) as client:
        provider = make_provider(config, client)
        streamed = expected["kind"] == "stream" or expected.get("stream", False)
        if expected["kind"] == "error":
            with pytest.raises(LLMError) as caught:
                if streamed:
                    async for _ in provider.stream(request):
                        pass
                else:
                    await provider.complete(request)
            error = caught.value
            allowed = expected.get("class_any") or [expected["class"]]
            assert type(error).__name__ in allowed, (type(error).__name__, allowed)
            assert error.retryable is expected["retryable"]
            assert error.status == expected["status"]
            assert error.provider == name
            return seen
        if streamed:
            texts: list[str] = []
            thoughts: list[str] = []
            calls: dict[int, list[ToolCallDelta]] = {}
            ends: list[StreamEnd] = []
            async for event in provider.stream(request):
                assert not ends, "an event after StreamEnd"
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    thoughts.append(event.text)
                elif isinstance(event, ToolCallDelta):
                    calls.setdefault(event.index, []).append(event)
                else:
                    ends.append(event)
            assert len(ends) == 1
            response = ends[0].response
            assert "".join(texts) == response.content
            assert "".join(thoughts) == (response.reasoning_text or "")
            assert assembled(calls) == [(c.name, c.arguments) for c in response.tool_calls]
        else:
            response = await provider.complete(request)
    assert response.content == expected["content"]
    if "input_tokens" in expected:
        assert response.input_tokens == expected["input_tokens"]
    if "output_tokens" in expected:
        assert response.output_tokens == expected["output_tokens"]
    if "finish_reason" in expected:
        assert response.finish_reason == expected["finish_reason"]
    assert response.reasoning_text == expected.get("reasoning_text")
    if "tool_calls" in expected:
        got = [(call.name, call.arguments) for call in response.tool_calls]
        assert got == [(call["name"], call["arguments"]) for call in expected["tool_calls"]]
        for call, want in zip(response.tool_calls, expected["tool_calls"], strict=True):
            assert call.id  # generated where the vendor sent none
            if want["id"] is not None:
                assert call.id == want["id"]
    if "reasoning_tokens" in expected:
        assert response.reasoning_tokens == expected["reasoning_tokens"]
    assert response.provider == name
    return seen


def assembled(deltas: dict[int, list[ToolCallDelta]]) -> list[tuple[str | None, Any]]:
    """Joins each streamed call's pieces: its name and its decoded arguments, by index."""
    calls = []
    for index in sorted(deltas):
        pieces = deltas[index]
        name = next((piece.name for piece in pieces if piece.name), None)
        text = "".join(piece.arguments_delta for piece in pieces)
        calls.append((name, json.loads(text) if text.strip() else {}))
    return calls
