"""Gemini batch mode on the wire, with the shapes of the API reference and google-genai."""

from __future__ import annotations

import json

import httpx
import respx

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.batch import BatchLimits, Polling, cancel, results, submit
from ashford_llm.errors import InvalidRequestError, RateLimitError
from ashford_llm.types import ImagePart, Tool
from tests.batch.helpers import provider_for

BASE = "https://generativelanguage.googleapis.com"
ROOT = f"{BASE}/v1beta"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
REQUESTS = {
    "mail-0001": CompletionRequest(
        [ChatMessage.user("Classify", ImagePart(data=PNG, media_type="image/png"))],
        tools=[Tool("label", "Sets the label")],
    ),
    "mail-0002": CompletionRequest([ChatMessage.user("Classify: buy now")]),
}
ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "billing"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1, "totalTokenCount": 13},
    "modelVersion": "gemini-3.8-flash",
}


def operation(state: str, output: dict[str, object] | None = None) -> dict[str, object]:
    """A batch operation: the batch is its `metadata`."""
    metadata: dict[str, object] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
        "model": "models/gemini-3.8-flash",
        "displayName": "inbox",
        "state": state,
        "createTime": "2026-11-28T10:00:00Z",
        "batchStats": {
            "requestCount": "2",
            "successfulRequestCount": "1",
            "failedRequestCount": "1",
        },
    }
    if output is not None:
        metadata["output"] = output
    return {"name": "batches/123abc", "metadata": metadata, "done": state != "BATCH_STATE_RUNNING"}


ERROR = {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}


async def no_wait(seconds: float) -> None:
    return None


@respx.mock(assert_all_called=True)
async def test_inline_create_poll_and_inline_responses(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{ROOT}/models/gemini-3.8-flash:batchGenerateContent").respond(
        json=operation("BATCH_STATE_PENDING")
    )
    inline = {
        "inlinedResponses": {
            "inlinedResponses": [
                {"response": ANSWER, "metadata": {"key": "mail-0001"}},
                {"error": ERROR, "metadata": {"key": "mail-0002"}},
            ]
        }
    }
    respx_mock.get(f"{ROOT}/batches/123abc").mock(
        side_effect=[
            httpx.Response(200, json=operation("BATCH_STATE_RUNNING")),
            httpx.Response(200, json=operation("BATCH_STATE_SUCCEEDED", inline)),
            httpx.Response(200, json=operation("BATCH_STATE_SUCCEEDED", inline)),
        ]
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("gemini", client, BASE, model="gemini-3.8-flash")
        handle = await submit(provider, REQUESTS, name="inbox")
        expected = [
            {
                "request": json.loads(provider.dialect.encode(r, stream=False)),
                "metadata": {"key": k},
            }
            for k, r in REQUESTS.items()
        ]
        outcomes = {
            cid: out
            async for cid, out in results(
                handle, provider=provider, polling=Polling(initial=0.0), sleep=no_wait
            )
        }
    sent = create.calls.last.request
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert json.loads(sent.content) == {
        "batch": {"displayName": "inbox", "inputConfig": {"requests": {"requests": expected}}}
    }
    parts = expected[0]["request"]["contents"][0]["parts"]
    assert parts[1]["inlineData"]["mimeType"] == "image/png"
    assert "functionDeclarations" in expected[0]["request"]["tools"][0]
    assert handle.batches[0].id == "batches/123abc"
    answer = outcomes["mail-0001"]
    assert isinstance(answer, CompletionResponse)
    assert answer.content == "billing"
    assert answer.batch is True
    assert isinstance(outcomes["mail-0002"], RateLimitError)


@respx.mock(assert_all_called=True)
async def test_a_large_batch_is_uploaded_and_its_responses_file_downloaded(
    respx_mock: respx.MockRouter,
) -> None:
    upload = respx_mock.post(f"{BASE}/upload/v1beta/files", params={"upload_id": "u1"}).respond(
        json={"file": {"name": "files/in1", "mimeType": "application/jsonl"}}
    )
    start = respx_mock.post(f"{BASE}/upload/v1beta/files").respond(
        headers={"x-goog-upload-url": f"{BASE}/upload/v1beta/files?upload_id=u1"}
    )
    create = respx_mock.post(f"{ROOT}/models/gemini-3.8-flash:batchGenerateContent").respond(
        json=operation("BATCH_STATE_PENDING")
    )
    respx_mock.get(f"{ROOT}/batches/123abc").respond(
        json=operation("BATCH_STATE_SUCCEEDED", {"responsesFile": "files/out1"})
    )
    lines = [
        {
            "key": "mail-0002",
            "error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"},
        },
        {"key": "mail-0001", "response": ANSWER},
    ]
    download = respx_mock.get(f"{ROOT}/files/out1:download", params={"alt": "media"}).respond(
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("gemini", client, BASE, model="gemini-3.8-flash")
        limits = BatchLimits(max_requests=10, max_bytes=10**6, inline_bytes=100)
        handle = await submit(provider, REQUESTS, name="inbox", limits=limits)
        expected = [
            {"key": k, "request": json.loads(provider.dialect.encode(r, stream=False))}
            for k, r in REQUESTS.items()
        ]
        outcomes = {
            cid: out async for cid, out in results(handle, provider=provider, sleep=no_wait)
        }
    started = start.calls[0].request
    assert started.headers["x-goog-upload-protocol"] == "resumable"
    assert started.headers["x-goog-upload-command"] == "start"
    finished = upload.calls.last.request
    assert finished.headers["x-goog-upload-command"] == "upload, finalize"
    assert finished.headers["x-goog-upload-offset"] == "0"
    assert [json.loads(line) for line in finished.content.splitlines()] == expected
    assert int(started.headers["x-goog-upload-header-content-length"]) == len(finished.content)
    assert json.loads(create.calls.last.request.content) == {
        "batch": {"displayName": "inbox", "inputConfig": {"fileName": "files/in1"}}
    }
    assert download.called
    assert handle.batches[0].input_file == "files/in1"
    assert isinstance(outcomes["mail-0001"], CompletionResponse)
    assert isinstance(outcomes["mail-0002"], InvalidRequestError)


@respx.mock(assert_all_called=True)
async def test_cancel_posts_the_cancel_method(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{ROOT}/models/gemini-3.8-flash:batchGenerateContent").respond(
        json=operation("BATCH_STATE_PENDING")
    )
    respx_mock.get(f"{ROOT}/batches/123abc").mock(
        side_effect=[
            httpx.Response(200, json=operation("BATCH_STATE_RUNNING")),
            httpx.Response(200, json=operation("BATCH_STATE_CANCELLED")),
        ]
    )
    route = respx_mock.post(f"{ROOT}/batches/123abc:cancel").respond(json={})
    async with httpx.AsyncClient() as client:
        provider = provider_for("gemini", client, BASE, model="gemini-3.8-flash")
        handle = await submit(provider, REQUESTS)
        state = await cancel(handle, provider=provider)
    assert route.called
    assert state.ended
    assert state.batches[0].ended_as == "cancelled"


@respx.mock
async def test_inline_responses_without_keys_are_matched_by_position(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{ROOT}/models/gemini-3.8-flash:batchGenerateContent").respond(
        json=operation("BATCH_STATE_PENDING")
    )
    other = {
        **ANSWER,
        "candidates": [
            {**ANSWER["candidates"][0], "content": {"role": "model", "parts": [{"text": "sales"}]}}
        ],
    }  # type: ignore[dict-item]
    inline = {"inlinedResponses": {"inlinedResponses": [{"response": ANSWER}, {"response": other}]}}
    respx_mock.get(f"{ROOT}/batches/123abc").respond(
        json=operation("BATCH_STATE_SUCCEEDED", inline)
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("gemini", client, BASE, model="gemini-3.8-flash")
        handle = await submit(provider, REQUESTS)
        outcomes = {
            cid: out.content  # type: ignore[union-attr]
            async for cid, out in results(handle, provider=provider, sleep=no_wait)
        }
    assert outcomes == {"mail-0001": "billing", "mail-0002": "sales"}
