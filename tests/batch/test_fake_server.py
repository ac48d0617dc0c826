"""The batch API against the fake server's three batch APIs: results, faults, expiry, cancel."""

from __future__ import annotations

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.batch import BatchLimits, Polling, cancel, results, status, submit
from ashford_llm.errors import (
    BatchItemNotRunError,
    InvalidRequestError,
    LLMError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server.batches import BatchOptions
from tests.batch.helpers import PROVIDERS, fake_provider

FAST = Polling(initial=0.01, maximum=0.05)


def requests(count: int) -> dict[str, CompletionRequest]:
    return {
        f"mail-{i}": CompletionRequest([ChatMessage.user(f"message number {i}")])
        for i in range(count)
    }


async def collect(handle, provider) -> dict[str, CompletionResponse | LLMError]:  # type: ignore[no-untyped-def]
    return {cid: out async for cid, out in results(handle, provider=provider, polling=FAST)}


@pytest.fixture(params=list(PROVIDERS))
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_every_item_is_answered_as_a_live_call_would_be(vendor: str) -> None:
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=0.05))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        handle = await submit(provider, requests(3))
        outcomes = await collect(handle, provider)
    assert handle.count == 3
    assert len(handle.batches) == 1
    assert sorted(outcomes) == ["mail-0", "mail-1", "mail-2"]
    for custom_id, outcome in outcomes.items():
        assert isinstance(outcome, CompletionResponse)
        assert outcome.content == f"message number {custom_id[5:]}"
        assert outcome.batch is True
        assert outcome.provider == provider.name


async def test_item_faults_are_typed_per_item(vendor: str) -> None:
    faults = {"mail-0": "rate_limit", "mail-1": "invalid", "mail-2": "server_error"}
    if vendor != "gemini":  # Gemini's quota fault needs a day quota's details; see below
        faults["mail-3"] = "quota_exhausted"
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=0.0, faults=faults))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        outcomes = await collect(await submit(provider, requests(5)), provider)
    assert isinstance(outcomes["mail-0"], RateLimitError)
    assert isinstance(outcomes["mail-1"], InvalidRequestError)
    assert isinstance(outcomes["mail-2"], ServerError)
    assert outcomes["mail-2"].retryable
    assert not outcomes["mail-1"].retryable
    if vendor != "gemini":
        assert isinstance(outcomes["mail-3"], QuotaExhaustedError)
    assert isinstance(outcomes["mail-4"], CompletionResponse)


async def test_an_expired_batch_returns_the_items_not_run_as_retryable(vendor: str) -> None:
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=10.0, expire_seconds=0.05))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        outcomes = await collect(await submit(provider, requests(4)), provider)
    assert len(outcomes) == 4
    for outcome in outcomes.values():
        assert isinstance(outcome, BatchItemNotRunError)
        assert outcome.retryable
        assert outcome.error_code == "expired"


async def test_cancel_ends_the_batch_and_its_items_come_back_cancelled(vendor: str) -> None:
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=30.0))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        handle = await submit(provider, requests(2))
        before = await status(handle, provider=provider)
        await cancel(handle, provider=provider)
        outcomes = await collect(handle, provider)
        after = await status(handle, provider=provider)
    assert before.state == "in_progress"
    assert after.ended
    assert {type(o) for o in outcomes.values()} == {BatchItemNotRunError}
    assert {o.error_code for o in outcomes.values()} == {"cancelled"}  # type: ignore[union-attr]


async def test_requests_over_the_limits_are_split_over_several_batches(vendor: str) -> None:
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=0.0))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        handle = await submit(
            provider, requests(5), limits=BatchLimits(max_requests=2, max_bytes=10**6)
        )
        outcomes = await collect(handle, provider)
    assert [len(b.custom_ids) for b in handle.batches] == [2, 2, 1]
    assert len({b.id for b in handle.batches}) == 3
    assert all(isinstance(o, CompletionResponse) for o in outcomes.values())
    assert len(outcomes) == 5


async def test_gemini_uses_an_uploaded_file_above_the_inline_limit() -> None:
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=0.0))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider("gemini", server, client)
        limits = BatchLimits(max_requests=100, max_bytes=10**6, inline_bytes=600)
        handle = await submit(provider, requests(3), limits=limits)
        outcomes = await collect(handle, provider)
    assert handle.batches[0].input_file is not None
    assert handle.batches[0].input_file.startswith("files/")
    assert [o.content for o in outcomes.values()] == [  # type: ignore[union-attr]
        "message number 0",
        "message number 1",
        "message number 2",
    ]


async def test_the_fake_answers_a_malformed_create_with_the_vendors_400(vendor: str) -> None:
    server = FakeProviderServer()
    base = server.base_url(vendor)
    url = {
        "openai": f"{base}/batches",
        "anthropic": f"{base}/v1/messages/batches",
        "gemini": f"{base}/v1beta/models/model-1:batchGenerateContent",
    }[vendor]
    body = {
        "openai": b'{"input_file_id": 3}',
        "anthropic": b'{"requests": [{"custom_id": "a"}]}',
        "gemini": b'{"batch": {"displayName": "x", '
        b'"inputConfig": {"requests": {"requests": [{}]}}}}',
    }[vendor]
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(vendor, server, client)
        with pytest.raises(InvalidRequestError) as caught:
            await provider.send("POST", url, content=body)
    assert caught.value.status == 400
