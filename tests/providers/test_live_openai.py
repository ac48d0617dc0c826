"""Calls the real OpenAI API once per case; opt-in with `pytest -m live` and OPENAI_API_KEY."""

import json
import os

import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, StreamEnd, TextDelta
from ashford_llm.providers import OpenAIProvider

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY unset"),
]

MODEL = os.environ.get("ASHFORD_LIVE_OPENAI_MODEL", "gpt-4o-mini")
CONFIG = ModelConfig("openai", MODEL, max_output_tokens=200)
QUESTION = [ChatMessage.user('Which city is the Eiffel Tower in? Answer as JSON {"city": "..."}.')]
SCHEMA = {
    "title": "answer",
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


async def test_live_complete_in_json_mode() -> None:
    async with OpenAIProvider(CONFIG) as provider:
        response = await provider.complete(CompletionRequest(QUESTION, json_mode=True))
    assert "paris" in json.loads(response.content)["city"].lower()
    assert response.input_tokens > 0
    assert response.output_tokens > 0
    assert response.finish_reason == "stop"
    assert response.request_id


async def test_live_stream_with_a_json_schema() -> None:
    texts: list[str] = []
    ends: list[StreamEnd] = []
    async with OpenAIProvider(CONFIG) as provider:
        async for event in provider.stream(CompletionRequest(QUESTION, json_schema=SCHEMA)):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                ends.append(event)
    assert len(ends) == 1
    response = ends[0].response
    assert "".join(texts) == response.content
    assert "paris" in json.loads(response.content)["city"].lower()
    assert response.input_tokens > 0
    assert response.output_tokens > 0
