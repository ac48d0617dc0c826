"""Anthropic Message Batches on the wire, with the bodies of Anthropic's docs and SDK types."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.batch import Polling, cancel, results, submit
from ashford_llm.errors import (
    BatchItemNotRunError,
    InvalidRequestError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.types import DocumentPart, ReasoningConfig
from tests.batch.helpers import provider_for

BASE = "https://api.anthropic.com"
REQUESTS = {
    "mail-0001": CompletionRequest(
        [ChatMessage.user("Classify this invoice", DocumentPart(data=b"%PDF-1.4 fake"))],
        reasoning=ReasoningConfig(budget_tokens=1024),
        max_tokens=2048,
    ),
    "mail-0002": CompletionRequest([ChatMessage.user("Classify: buy now")]),
    "mail-0003": CompletionRequest([ChatMessage.user("Classify: hello")]),
    "mail-0004": CompletionRequest([ChatMessage.user("Classify: late")]),
    "mail-0005": CompletionRequest([ChatMessage.user("Classify: busy")]),
    "mail-0006": CompletionRequest([ChatMessage.user("Classify: spend")]),
}


def batch(state: str, **fields: object) -> dict[str, object]:
    """A Message Batch object as the API reference shows it."""
    return {
        "id": "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d",
        "type": "message_batch",
        "processing_status": state,
        "request_counts": {
            "processing": 6,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        },
        "ended_at": None,
        "created_at": "2026-11-28T10:00:00Z",
        "expires_at": "2026-11-29T10:00:00Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": None,
    } | fields


MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "billing"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 2, "service_tier": "batch"},
}


def errored(kind: str, message: str) -> dict[str, object]:
    return {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_9",
        },
    }


RESULTS = b"".join(
    json.dumps(line).encode() + b"\n"
    for line in (
        {"custom_id": "mail-0001", "result": {"type": "succeeded", "message": MESSAGE}},
        {
            "custom_id": "mail-0002",
            "result": errored("invalid_request_error", "max_tokens: too big"),
        },
        {"custom_id": "mail-0003", "result": {"type": "canceled"}},
        {"custom_id": "mail-0004", "result": {"type": "expired"}},
        {"custom_id": "mail-0005", "result": errored("overloaded_error", "Overloaded")},
        {
            "custom_id": "mail-0006",
            "result": errored(
                "rate_limit_error", "You have reached your specified API usage limits."
            ),
        },
    )
)
URL = f"{BASE}/v1/messages/batches"


async def no_wait(seconds: float) -> None:
    return None


@respx.mock(assert_all_called=True)
async def test_submit_sends_each_request_as_its_live_messages_body(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(URL).respond(json=batch("in_progress"))
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE, model="claude-sonnet-4-6")
        handle = await submit(provider, REQUESTS)
        expected = [
            {"custom_id": cid, "params": json.loads(provider.dialect.encode(r, stream=False))}
            for cid, r in REQUESTS.items()
        ]
    sent = route.calls.last.request
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(sent.content) == {"requests": expected}
    first = expected[0]["params"]
    assert first["messages"][0]["content"][1]["type"] == "document"
    assert first["thinking"]["budget_tokens"] == 1024
    assert "stream" not in first
    assert handle.batches[0].id == "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"


@respx.mock(assert_all_called=True)
async def test_results_read_every_result_type(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).respond(json=batch("in_progress"))
    ended = batch(
        "ended",
        request_counts={"processing": 0, "succeeded": 1, "errored": 3, "canceled": 1, "expired": 1},
        results_url=f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/results",
    )
    respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d").mock(
        side_effect=[
            httpx.Response(200, json=batch("in_progress")),
            httpx.Response(200, json=ended),
        ]
    )
    results_route = respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/results").respond(
        content=RESULTS, headers={"content-type": "application/binary"}
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE, model="claude-sonnet-4-6")
        handle = await submit(provider, REQUESTS)
        outcomes = {
            cid: out
            async for cid, out in results(
                handle, provider=provider, polling=Polling(initial=0.0), sleep=no_wait
            )
        }
    assert results_route.calls.last.request.headers["accept"] == "application/binary"
    answer = outcomes["mail-0001"]
    assert isinstance(answer, CompletionResponse)
    assert answer.content == "billing"
    assert answer.batch is True
    assert isinstance(outcomes["mail-0002"], InvalidRequestError)
    assert outcomes["mail-0002"].request_id == "req_9"
    assert isinstance(outcomes["mail-0003"], BatchItemNotRunError)
    assert outcomes["mail-0003"].error_code == "cancelled"
    assert isinstance(outcomes["mail-0004"], BatchItemNotRunError)
    assert outcomes["mail-0004"].error_code == "expired"
    assert isinstance(outcomes["mail-0005"], ServerError)
    assert isinstance(outcomes["mail-0006"], QuotaExhaustedError)
    assert [o.retryable for o in outcomes.values() if not isinstance(o, CompletionResponse)] == [
        False,
        True,
        True,
        True,
        False,
    ]


@respx.mock
async def test_a_plain_rate_limited_item_stays_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).respond(json=batch("in_progress"))
    ended = batch("ended", results_url=f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/results")
    respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d").respond(json=ended)
    line = {
        "custom_id": "mail-0002",
        "result": errored("rate_limit_error", "Number of requests has exceeded your rate limit"),
    }
    respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/results").respond(
        content=json.dumps(line).encode() + b"\n"
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        handle = await submit(provider, {"mail-0002": REQUESTS["mail-0002"]})
        outcomes = [out async for _, out in results(handle, provider=provider, sleep=no_wait)]
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], RateLimitError)


@respx.mock(assert_all_called=True)
async def test_cancel_posts_to_the_batch(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).respond(json=batch("in_progress"))
    respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d").respond(json=batch("in_progress"))
    respx_mock.post(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/cancel").respond(
        json=batch("canceling", cancel_initiated_at="2026-11-28T10:05:00Z")
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE, model="claude-sonnet-4-6")
        handle = await submit(provider, REQUESTS)
        state = await cancel(handle, provider=provider)
    assert state.state == "cancelling"
    assert state.batches[0].vendor_state == "canceling"


@respx.mock
async def test_a_results_url_on_another_host_is_not_sent_the_key(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).respond(json=batch("in_progress"))
    ended = batch("ended", results_url="https://elsewhere.example/results")
    respx_mock.get(f"{URL}/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d").respond(json=ended)
    elsewhere = respx_mock.get("https://elsewhere.example/results").respond(content=RESULTS)
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        handle = await submit(provider, {"mail-0002": REQUESTS["mail-0002"]})
        with pytest.raises(ResponseDecodeError, match="another origin"):
            async for _ in results(handle, provider=provider, sleep=no_wait):
                pass
    assert not elsewhere.called
