"""Calls the real Gemini API; opt-in with `pytest -m live` and GOOGLE_API_KEY or GEMINI_API_KEY."""

import json
import os

import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, StreamEnd, TextDelta
from ashford_llm.providers import GoogleProvider

HAS_KEY = bool(os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY"))

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not HAS_KEY, reason="GOOGLE_API_KEY and GEMINI_API_KEY unset"),
]

MODEL = os.environ.get("ASHFORD_LIVE_GOOGLE_MODEL", "gemini-2.5-flash")
CONFIG = ModelConfig("google", MODEL, max_output_tokens=1024)
QUESTION = [ChatMessage.user('Which city is the Eiffel Tower in? Answer as {"city": "..."}.')]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


async def test_live_complete_in_json_mode() -> None:
    async with GoogleProvider(CONFIG) as provider:
        response = await provider.complete(CompletionRequest(QUESTION, json_mode=True))
    assert "paris" in json.loads(response.content)["city"].lower()
    assert response.input_tokens > 0
    assert response.output_tokens > 0
    assert response.finish_reason == "stop"
    assert response.response_id


async def test_live_stream_with_a_json_schema() -> None:
    texts: list[str] = []
    ends: list[StreamEnd] = []
    async with GoogleProvider(CONFIG) as provider:
        async for event in provider.stream(CompletionRequest(QUESTION, json_schema=SCHEMA)):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                ends.append(event)
    assert len(ends) == 1
    assert "".join(texts) == ends[0].response.content
    assert "paris" in json.loads(ends[0].response.content)["city"].lower()
    assert ends[0].response.output_tokens > 0


async def test_live_stream_in_json_mode() -> None:
    async with GoogleProvider(CONFIG) as provider:
        events = [e async for e in provider.stream(CompletionRequest(QUESTION, json_mode=True))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert "paris" in json.loads(end.response.content)["city"].lower()
