"""The fake server's Azure OpenAI routes, spoken to with raw httpx: paths, auth, faults, filter."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server import Fault
from ashford_llm.testing.fake_server.azure import FILTER_COMPLETION, FILTER_PROMPT
from tests.testing.fake_server.conftest import OpenClient

KEY = "azure-test-key"
V1 = "/openai/v1/chat/completions"
DEPLOYMENT = "/openai/deployments/gpt4o-prod/chat/completions"
VERSION = {"api-version": "2024-10-21"}


def body(text: str, *, stream: bool = False, model: str | None = "gpt4o-prod") -> dict[str, Any]:
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    if model is not None:
        payload["model"] = model
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    return payload


def chunks(response: httpx.Response) -> list[Any]:
    frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    return [frame if frame == "[DONE]" else json.loads(frame) for frame in frames]


async def test_both_styles_answer_with_the_api_key_header(open_client: OpenClient) -> None:
    server = FakeProviderServer(api_key=KEY)
    client = await open_client(server, "azure")
    headers = {"api-key": KEY}
    v1 = await client.post(V1, json=body("hello v1"), headers=headers)
    deployments = await client.post(
        DEPLOYMENT, json=body("hello dep", model=None), headers=headers, params=VERSION
    )
    assert v1.status_code == deployments.status_code == 200
    assert v1.json()["choices"][0]["message"]["content"] == "hello v1"
    assert v1.json()["model"] == "gpt4o-prod"
    assert deployments.json()["model"] == "gpt4o-prod"  # from the path
    choice = v1.json()["choices"][0]
    assert choice["content_filter_results"]["violence"] == {"filtered": False, "severity": "safe"}
    assert v1.json()["prompt_filter_results"][0]["prompt_index"] == 0
    assert v1.headers["apim-request-id"] == v1.headers["x-request-id"]
    assert [record.vendor for record in server.stats.records] == ["azure", "azure"]


async def test_a_bearer_token_is_accepted_too(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(api_key=KEY), "azure")
    response = await client.post(V1, json=body("hi"), headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"api-key": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": KEY}]
)
async def test_a_missing_or_wrong_key_gets_azures_401(
    open_client: OpenClient, headers: dict[str, str]
) -> None:
    client = await open_client(FakeProviderServer(api_key=KEY), "azure")
    response = await client.post(V1, json=body("hi"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "401"
    assert "Access denied" in response.json()["error"]["message"]


async def test_deployments_without_api_version_are_not_found(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "azure")
    response = await client.post(DEPLOYMENT, json=body("hi"), headers={"api-key": KEY})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


async def test_the_v1_path_refuses_an_api_version(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "azure")
    response = await client.post(V1, json=body("hi"), headers={"api-key": KEY}, params=VERSION)
    assert response.status_code == 400
    assert "api-version" in response.json()["error"]["message"]


async def test_a_stream_opens_with_the_prompt_annotation_chunk(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "azure")
    response = await client.post(
        DEPLOYMENT, json=body("one two", stream=True), headers={"api-key": KEY}, params=VERSION
    )
    frames = chunks(response)
    assert frames[0]["choices"] == []
    assert frames[0]["id"] == ""
    assert "prompt_filter_results" in frames[0]
    texts = [
        c["choices"][0]["delta"].get("content")
        for c in frames[1:]
        if c != "[DONE]" and c["choices"]
    ]
    assert "".join(t for t in texts if t) == "one two"
    assert frames[-2]["usage"]["completion_tokens"] == 2
    assert frames[-1] == "[DONE]"


async def test_a_prompt_with_the_marker_gets_azures_content_filter_400(
    open_client: OpenClient,
) -> None:
    client = await open_client(FakeProviderServer(), "azure")
    response = await client.post(V1, json=body(f"x {FILTER_PROMPT}"), headers={"api-key": KEY})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_filter"
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert error["innererror"]["content_filter_result"]["self_harm"]["filtered"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_a_prompt_with_the_completion_marker_gets_a_cut_answer(
    open_client: OpenClient, stream: bool
) -> None:
    client = await open_client(FakeProviderServer(), "azure")
    response = await client.post(
        V1, json=body(f"x {FILTER_COMPLETION}", stream=stream), headers={"api-key": KEY}
    )
    assert response.status_code == 200
    if stream:
        finish = [c for c in chunks(response) if c != "[DONE]" and c["choices"]][-1]
        choice = finish["choices"][0]
    else:
        choice = response.json()["choices"][0]
        assert choice["message"]["content"] is None
    assert choice["finish_reason"] == "content_filter"
    assert choice["content_filter_results"]["violence"] == {"filtered": True, "severity": "high"}


async def test_a_rate_limit_fault_uses_azures_429(open_client: OpenClient) -> None:
    client = await open_client(
        FakeProviderServer(script=[Fault.rate_limit], retry_after=2), "azure"
    )
    response = await client.post(V1, json=body("hi"), headers={"api-key": KEY})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "429"
    assert "retry after 2 seconds" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.server_error, 500),
        (Fault.unavailable, 503),
        (Fault.quota_exhausted, 429),
        (Fault.html_error, 502),
    ],
)
async def test_status_faults_answer_on_the_azure_routes(
    open_client: OpenClient, fault: Fault, status: int
) -> None:
    server = FakeProviderServer(script=[fault])
    client = await open_client(server, "azure")
    response = await client.post(
        DEPLOYMENT, json=body("hi"), headers={"api-key": KEY}, params=VERSION
    )
    assert response.status_code == status
    assert server.stats.records[0].fault == fault
