"""Calls the real vendor APIs; opt-in with `pytest -m live` and the vendor's key set.

Each case runs once per vendor whose key is in the environment and is skipped otherwise.
`ASHFORD_LIVE_<VENDOR>_MODEL` picks another model.
"""

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, StreamEnd, TextDelta
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers import AnthropicProvider, GoogleProvider, OpenAIProvider

QUESTION = [ChatMessage.user('Which city is the Eiffel Tower in? Answer as JSON {"city": "..."}.')]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


@dataclass(frozen=True)
class Vendor:
    name: str
    provider: type[LLMProvider]
    keys: tuple[str, ...]
    default_model: str
    max_output_tokens: int
    id_field: str  # the response id the vendor reliably sends
    schema: dict[str, Any]

    def build(self) -> LLMProvider:
        model = os.environ.get(f"ASHFORD_LIVE_{self.name.upper()}_MODEL", self.default_model)
        config = ModelConfig(self.name, model, max_output_tokens=self.max_output_tokens)
        return self.provider(config)  # type: ignore[call-arg]


VENDORS = [
    Vendor(
        "openai",
        OpenAIProvider,
        ("OPENAI_API_KEY",),
        "gpt-4o-mini",
        200,
        "request_id",
        # OpenAI's strict structured output needs a name and closed objects.
        {"title": "answer", **SCHEMA, "additionalProperties": False},
    ),
    Vendor(
        "anthropic",
        AnthropicProvider,
        ("ANTHROPIC_API_KEY",),
        "claude-haiku-4-5",
        200,
        "request_id",
        SCHEMA,
    ),
    Vendor(
        "google",
        GoogleProvider,
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        "gemini-2.5-flash",
        1024,
        "response_id",
        SCHEMA,
    ),
]

pytestmark = pytest.mark.live

vendors = pytest.mark.parametrize(
    "vendor",
    [
        pytest.param(
            vendor,
            id=vendor.name,
            marks=pytest.mark.skipif(
                not any(os.environ.get(key) for key in vendor.keys),
                reason=f"{' and '.join(vendor.keys)} unset",
            ),
        )
        for vendor in VENDORS
    ],
)


def city(text: str) -> str:
    return str(json.loads(text)["city"]).lower()


@vendors
async def test_live_complete_in_json_mode(vendor: Vendor) -> None:
    async with vendor.build() as provider:
        response = await provider.complete(CompletionRequest(QUESTION, json_mode=True))
    assert "paris" in city(response.content)
    assert response.input_tokens > 0
    assert response.output_tokens > 0
    assert response.finish_reason == "stop"
    assert getattr(response, vendor.id_field)


@vendors
async def test_live_stream_with_a_json_schema(vendor: Vendor) -> None:
    texts: list[str] = []
    ends: list[StreamEnd] = []
    async with vendor.build() as provider:
        request = CompletionRequest(QUESTION, json_schema=vendor.schema)
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                ends.append(event)
    assert len(ends) == 1
    assert "".join(texts) == ends[0].response.content
    assert "paris" in city(ends[0].response.content)
    assert ends[0].response.input_tokens > 0
    assert ends[0].response.output_tokens > 0


@vendors
async def test_live_stream_in_json_mode(vendor: Vendor) -> None:
    async with vendor.build() as provider:
        events = [e async for e in provider.stream(CompletionRequest(QUESTION, json_mode=True))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert "paris" in city(end.response.content)
