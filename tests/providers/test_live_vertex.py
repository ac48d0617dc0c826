"""Calls Vertex AI for real; opt-in with `pytest -m live`, a project and Application Default
Credentials (`gcloud auth application-default login`, or a service account).

Skipped without GOOGLE_CLOUD_PROJECT or without ADC. GOOGLE_CLOUD_LOCATION picks the location
(default "global"). The models are those of the Gemini and Anthropic live tests, as Vertex
names them; `ASHFORD_LIVE_VERTEX_GEMINI_MODEL` and `ASHFORD_LIVE_VERTEX_CLAUDE_MODEL` pick
others (Claude models must be enabled in the project's Model Garden first).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    CompletionRequest,
    ModelConfig,
    StreamEnd,
    TextDelta,
)
from ashford_llm.providers.vertex import vertex_provider

pytestmark = pytest.mark.live

MODELS = {
    "google": os.environ.get("ASHFORD_LIVE_VERTEX_GEMINI_MODEL", "gemini-3.5-flash-lite"),
    "anthropic": os.environ.get("ASHFORD_LIVE_VERTEX_CLAUDE_MODEL", "claude-haiku-4-5@20251001"),
}
COUNTING = [
    ChatMessage.user("Reply with the integers from 1 to 5 separated by spaces, nothing else.")
]


@pytest.fixture(scope="module")
def project() -> str:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
    if not project:
        pytest.skip("set GOOGLE_CLOUD_PROJECT (and Application Default Credentials)")
    google_auth = pytest.importorskip("google.auth")
    from google.auth import exceptions

    try:
        google_auth.default()
    except exceptions.DefaultCredentialsError as exc:
        pytest.skip(f"no Application Default Credentials: {exc}")
    return project


def make(publisher: str, project: str, **options: Any) -> Any:
    config = ModelConfig("vertex", MODELS[publisher], max_output_tokens=200)
    return vertex_provider(config, project=project, **options)


@pytest.mark.parametrize("publisher", list(MODELS))
async def test_vertex_completes_and_streams(publisher: str, project: str) -> None:
    async with make(publisher, project) as provider:
        response = await provider.complete(CompletionRequest(COUNTING))
        text, final = "", None
        async for event in provider.stream(CompletionRequest(COUNTING)):
            if isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, StreamEnd):
                final = event.response
    assert "1 2 3 4 5" in response.content
    assert response.provider == "vertex"
    assert response.input_tokens
    assert response.output_tokens
    assert final is not None
    assert "1 2 3 4 5" in text
    assert final.content == text


@pytest.mark.parametrize("publisher", list(MODELS))
async def test_vertex_rejects_a_bad_token_as_an_authentication_error(
    publisher: str, project: str
) -> None:
    async with make(publisher, project, access_token="ya29.invalid-for-ashford-live-tests") as p:
        with pytest.raises(AuthenticationError) as caught:
            await p.complete(CompletionRequest(COUNTING))
    assert caught.value.status == 401
    assert "ya29.invalid-for-ashford-live-tests" not in str(caught.value)
