"""What submit checks before sending, how it splits, and what resuming refuses."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from ashford_llm import ChatMessage, CompletionRequest
from ashford_llm.batch import BatchHandle, BatchLimits, VendorBatch, results, status, submit
from ashford_llm.errors import InvalidRequestError, ServerError
from ashford_llm.middleware import Retry
from ashford_llm.types import ReasoningConfig
from tests.batch.helpers import provider_for

BASE = "https://api.anthropic.com"
URL = f"{BASE}/v1/messages/batches"
HELLO = CompletionRequest([ChatMessage.user("hello")])


@respx.mock(assert_all_mocked=True)
async def test_a_bad_custom_id_is_refused_before_anything_is_sent() -> None:
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        with pytest.raises(InvalidRequestError, match="custom id 'mail 1'"):
            await submit(provider, {"ok-1": HELLO, "mail 1": HELLO})
        with pytest.raises(InvalidRequestError, match="custom id"):
            await submit(provider, {"x" * 65: HELLO})


@respx.mock(assert_all_mocked=True)
async def test_a_request_the_dialect_refuses_is_named_before_anything_is_sent() -> None:
    bad = CompletionRequest(
        [ChatMessage.user("hi")], reasoning=ReasoningConfig(budget_tokens=1024), max_tokens=2048
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE, model="claude-opus-5")
        with pytest.raises(InvalidRequestError, match="request 'second'"):
            await submit(provider, {"first": HELLO, "second": bad})


@respx.mock(assert_all_mocked=True)
async def test_one_request_over_a_whole_batch_is_refused() -> None:
    big = CompletionRequest([ChatMessage.user("word " * 500)])
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        with pytest.raises(InvalidRequestError, match="alone is"):
            await submit(provider, {"big": big}, limits=BatchLimits(max_requests=5, max_bytes=2000))


async def test_submit_wants_a_vendor_provider_and_some_requests() -> None:
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        with pytest.raises(TypeError, match="vendor provider"):
            await submit(Retry(provider), {"a": HELLO})
        with pytest.raises(ValueError, match="at least one"):
            await submit(provider, {})
        with pytest.raises(TypeError, match="CompletionRequest"):
            await submit(provider, {"a": "hello"})  # type: ignore[dict-item]


@respx.mock
async def test_requests_are_split_by_size_as_well_as_count(respx_mock: respx.MockRouter) -> None:
    ids = iter(range(100))
    route = respx_mock.post(URL).mock(
        side_effect=lambda request: httpx.Response(
            200, json={"id": f"msgbatch_{next(ids)}", "processing_status": "in_progress"}
        )
    )
    requests = {f"m{i}": CompletionRequest([ChatMessage.user("word " * 40)]) for i in range(6)}
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        one = len(provider.dialect.encode(requests["m0"], stream=False))
        limits = BatchLimits(max_requests=100, max_bytes=1024 + 2 * (one + 40))
        handle = await submit(provider, requests, limits=limits)
    assert [b.custom_ids for b in handle.batches] == [("m0", "m1"), ("m2", "m3"), ("m4", "m5")]
    sent = [json.loads(call.request.content)["requests"] for call in route.calls]
    assert [[r["custom_id"] for r in body] for body in sent] == [
        ["m0", "m1"],
        ["m2", "m3"],
        ["m4", "m5"],
    ]


@respx.mock
async def test_a_failed_create_cancels_the_batches_already_created(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(200, json={"id": "msgbatch_1", "processing_status": "in_progress"}),
            httpx.Response(
                500, json={"type": "error", "error": {"type": "api_error", "message": "x"}}
            ),
        ]
    )
    cancelled = respx_mock.post(f"{URL}/msgbatch_1/cancel").respond(
        json={"id": "msgbatch_1", "processing_status": "canceling"}
    )
    async with httpx.AsyncClient() as client:
        provider = provider_for("anthropic", client, BASE)
        with pytest.raises(ServerError):
            await submit(
                provider,
                {"a": HELLO, "b": HELLO},
                limits=BatchLimits(max_requests=1, max_bytes=10**6),
            )
    assert cancelled.called


async def test_resuming_with_another_vendor_or_model_is_refused() -> None:
    handle = BatchHandle(
        provider="openai",
        vendor="openai",
        model="gpt-5.4-mini",
        batches=(VendorBatch(id="batch_1", custom_ids=("a",)),),
        count=1,
        created_at=0.0,
    )
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError, match="the handle is for openai"):
            await status(handle, provider=provider_for("anthropic", client, BASE))
        other_model = provider_for("openai", client, "https://api.openai.com/v1", model="gpt-x")
        with pytest.raises(ValueError, match=r"gpt-5\.4-mini"):
            async for _ in results(handle, provider=other_model):
                pass


def test_a_handle_round_trips_as_json_and_refuses_unknown_fields() -> None:
    handle = BatchHandle(
        provider="google",
        vendor="google",
        model="gemini-3.8-flash",
        batches=(VendorBatch(id="batches/1", custom_ids=("a", "b"), input_file="files/x"),),
        count=2,
        created_at=1795651200.5,
    )
    assert BatchHandle.from_json(handle.to_json()) == handle
    data = json.loads(handle.to_json())
    data["extra"] = 1
    with pytest.raises(Exception, match="unknown field"):
        BatchHandle.from_json(json.dumps(data))


def test_the_public_names_are_listed_sorted_and_exported() -> None:
    import ashford_llm.batch as batch

    assert batch.__all__ == sorted(batch.__all__)
    assert {"BatchHandle", "cancel", "results", "status", "submit"} <= set(batch.__all__)
    for name in batch.__all__:
        value = getattr(batch, name)
        if isinstance(value, type) or (callable(value) and hasattr(value, "__code__")):
            assert value.__module__.startswith("ashford_llm.batch"), name
