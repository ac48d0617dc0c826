"""OpenAI Batch API on the wire, with the bodies of OpenAI's docs (Files, Batch, outputs)."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest
import respx

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.batch import Polling, cancel, results, status, submit
from ashford_llm.errors import (
    BatchItemNotRunError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
)
from ashford_llm.types import ImagePart, Tool
from tests.batch.helpers import provider_for

BASE = "https://api.openai.com/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
REQUESTS = {
    "mail-0001": CompletionRequest(
        [
            ChatMessage.user(
                "Classify: my invoice is wrong", ImagePart(data=PNG, media_type="image/png")
            )
        ],
        tools=[Tool("label", "Sets the label", {"type": "object", "properties": {}})],
    ),
    "mail-0002": CompletionRequest([ChatMessage.user("Classify: buy now")], max_tokens=200),
    "mail-0003": CompletionRequest([ChatMessage.user("Classify: hello")]),
}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1795651300,
    "model": "gpt-5.4-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "billing"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
    "service_tier": "default",
}


def batch_object(state: str, **fields: object) -> dict[str, object]:
    """The Batch object of OpenAI's reference, in the given state."""
    return {
        "id": "batch_abc",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "status": state,
        "input_file_id": "file-abc",
        "output_file_id": None,
        "error_file_id": None,
        "completion_window": "24h",
        "created_at": 1795651200,
        "expires_at": 1795737600,
        "request_counts": {"total": 3, "completed": 0, "failed": 0},
        "errors": None,
        "model": "gpt-5.4-mini",
        "metadata": {"ashford_batch": "inbox"},
    } | fields


def lines(*objects: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


OUTPUT = lines(
    {
        "id": "batch_req_1",
        "custom_id": "mail-0001",
        "response": {"status_code": 200, "request_id": "req_1", "body": COMPLETION},
        "error": None,
    }
)
ERRORS = lines(
    {
        "id": "batch_req_2",
        "custom_id": "mail-0002",
        "response": {
            "status_code": 400,
            "request_id": "req_2",
            "body": {
                "error": {
                    "message": "Invalid 'messages'",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        },
        "error": None,
    },
    {
        "id": "batch_req_3",
        "custom_id": "mail-0003",
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        },
    },
)


async def no_wait(seconds: float) -> None:
    waits.append(seconds)


waits: list[float] = []


@pytest.fixture(autouse=True)
def _clear_waits() -> None:
    waits.clear()


@respx.mock(assert_all_called=True)
async def test_submit_uploads_the_jsonl_and_creates_the_batch(respx_mock: respx.MockRouter) -> None:
    upload = respx_mock.post(f"{BASE}/files").respond(
        json={
            "id": "file-abc",
            "object": "file",
            "bytes": 1,
            "purpose": "batch",
            "status": "processed",
        }
    )
    create = respx_mock.post(f"{BASE}/batches").respond(json=batch_object("validating"))
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE, model="gpt-5.4-mini")
        handle = await submit(provider, REQUESTS, name="inbox")
        expected = [
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": json.loads(provider.dialect.encode(request, stream=False)),
            }
            for custom_id, request in REQUESTS.items()
        ]
    sent = upload.calls.last.request
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = sent.content
    assert b'name="purpose"\r\n\r\nbatch\r\n' in body
    assert b'name="file"; filename="inbox.jsonl"' in body
    jsonl = body.split(b"Content-Type: application/jsonl\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
    assert [json.loads(line) for line in jsonl.splitlines()] == expected
    assert expected[0]["body"]["messages"][0]["content"][1]["type"] == "image_url"
    assert expected[0]["body"]["tools"][0]["function"]["name"] == "label"
    assert json.loads(create.calls.last.request.content) == {
        "input_file_id": "file-abc",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"ashford_batch": "inbox"},
    }
    assert handle.vendor == "openai"
    assert handle.model == "gpt-5.4-mini"
    assert handle.count == 3
    assert handle.batches[0].id == "batch_abc"
    assert handle.batches[0].input_file == "file-abc"
    assert handle.batches[0].custom_ids == ("mail-0001", "mail-0002", "mail-0003")
    assert msgspec.json.decode(handle.to_json(), type=type(handle)) == handle


@respx.mock(assert_all_called=True)
async def test_results_poll_then_read_both_files_typed_per_item(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/files").respond(json={"id": "file-abc"})
    respx_mock.post(f"{BASE}/batches").respond(json=batch_object("validating"))
    respx_mock.get(f"{BASE}/batches/batch_abc").mock(
        side_effect=[
            httpx.Response(200, json=batch_object("in_progress")),
            httpx.Response(
                429,
                headers={"retry-after": "7"},
                json={
                    "error": {
                        "message": "Rate limit",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
            ),
            httpx.Response(
                200,
                json=batch_object(
                    "completed",
                    output_file_id="file-out",
                    error_file_id="file-err",
                    request_counts={"total": 3, "completed": 1, "failed": 2},
                ),
            ),
        ]
    )
    respx_mock.get(f"{BASE}/files/file-out/content").respond(content=OUTPUT)
    respx_mock.get(f"{BASE}/files/file-err/content").respond(content=ERRORS)
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE, model="gpt-5.4-mini")
        handle = await submit(provider, REQUESTS)
        polling = Polling(initial=1.0, multiplier=2.0, maximum=10.0)
        outcomes = {
            cid: out
            async for cid, out in results(handle, provider=provider, polling=polling, sleep=no_wait)
        }
    assert waits == [1.0, 7.0]  # the backoff, then the 429's retry-after
    answer = outcomes["mail-0001"]
    assert isinstance(answer, CompletionResponse)
    assert answer.content == "billing"
    assert answer.batch is True
    assert answer.request_id == "req_1"
    bad = outcomes["mail-0002"]
    assert isinstance(bad, InvalidRequestError)
    assert bad.status == 400
    assert bad.request_id == "req_2"
    expired = outcomes["mail-0003"]
    assert isinstance(expired, BatchItemNotRunError)
    assert expired.retryable
    assert expired.error_code == "expired"


@respx.mock
async def test_poll_gives_up_after_max_errors_in_a_row(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/files").respond(json={"id": "file-abc"})
    respx_mock.post(f"{BASE}/batches").respond(json=batch_object("validating"))
    respx_mock.get(f"{BASE}/batches/batch_abc").respond(500, json={"error": {"message": "boom"}})
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE)
        handle = await submit(provider, REQUESTS)
        with pytest.raises(ServerError):
            async for _ in results(
                handle, provider=provider, polling=Polling(max_errors=2), sleep=no_wait
            ):
                pass
    assert len(waits) == 2


@respx.mock
async def test_a_failed_batch_fails_each_item_with_the_vendors_reason(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/files").respond(json={"id": "file-abc"})
    respx_mock.post(f"{BASE}/batches").respond(json=batch_object("validating"))
    failed = batch_object(
        "failed",
        errors={
            "object": "list",
            "data": [{"code": "invalid_json_line", "line": 2, "message": "bad line"}],
        },
    )
    respx_mock.get(f"{BASE}/batches/batch_abc").respond(json=failed)
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE)
        handle = await submit(provider, REQUESTS)
        snapshot = await status(handle, provider=provider)
        outcomes = [out async for _, out in results(handle, provider=provider, sleep=no_wait)]
    assert snapshot.batches[0].ended_as == "failed"
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome, InvalidRequestError)
        assert "line 2: bad line" in outcome.message


@respx.mock(assert_all_called=True)
async def test_cancel_posts_to_the_batch(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/files").respond(json={"id": "file-abc"})
    respx_mock.post(f"{BASE}/batches").respond(json=batch_object("validating"))
    respx_mock.get(f"{BASE}/batches/batch_abc").respond(json=batch_object("in_progress"))
    route = respx_mock.post(f"{BASE}/batches/batch_abc/cancel").respond(
        json=batch_object("cancelling")
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE)
        handle = await submit(provider, REQUESTS)
        state = await cancel(handle, provider=provider)
    assert route.called
    assert state.state == "cancelling"


@respx.mock
async def test_a_rate_limited_create_is_the_vendors_typed_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/files").respond(json={"id": "file-abc"})
    respx_mock.post(f"{BASE}/batches").respond(
        429,
        headers={"retry-after": "3"},
        json={
            "error": {
                "message": "Enqueued token limit reached",
                "type": "invalid_request_error",
                "code": "rate_limit_exceeded",
            }
        },
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("openai", client, BASE)
        with pytest.raises(RateLimitError) as caught:
            await submit(provider, REQUESTS)
    assert caught.value.retry_after == 3.0
