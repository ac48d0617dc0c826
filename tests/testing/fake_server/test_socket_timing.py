"""Timing faults over a real 127.0.0.1 socket (ASGITransport buffers the body, so not there)."""

import asyncio
import itertools
import time

import httpx
import pytest
from httpx_sse import aconnect_sse

from ashford_llm.testing import FakeProviderServer, Fault
from tests.testing.fake_server.helpers import request_parts

TEXT = "one two three four"


async def test_slow_first_byte_delays_the_headers() -> None:
    server = FakeProviderServer(script=[Fault.slow_first_byte, None], slow_seconds=0.4)
    async with (
        server.run() as running,
        httpx.AsyncClient(base_url=running.base_url("openai")) as client,
    ):
        path, headers, body = request_parts("openai", TEXT)
        started = time.monotonic()
        assert (await client.post(path, headers=headers, json=body)).status_code == 200
        slow = time.monotonic() - started
        started = time.monotonic()
        await client.post(path, headers=headers, json=body)
        fast = time.monotonic() - started
    assert slow >= 0.35
    assert slow - fast >= 0.3


async def test_slow_first_byte_trips_a_read_timeout() -> None:
    server = FakeProviderServer(script=[Fault.slow_first_byte], slow_seconds=1.0)
    async with (
        server.run() as running,
        httpx.AsyncClient(
            base_url=running.base_url("anthropic"), timeout=httpx.Timeout(5.0, read=0.2)
        ) as client,
    ):
        path, headers, body = request_parts("anthropic", TEXT)
        with pytest.raises(httpx.ReadTimeout):
            await client.post(path, headers=headers, json=body)


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_stall_pauses_after_the_first_chunk_then_finishes(vendor: str) -> None:
    server = FakeProviderServer(script=[Fault.stall], stall_seconds=0.5)
    async with (
        server.run() as running,
        httpx.AsyncClient(base_url=running.base_url(vendor)) as client,
    ):
        path, headers, body = request_parts(vendor, TEXT, stream=True)
        arrivals = []
        async with aconnect_sse(client, "POST", path, headers=headers, json=body) as source:
            async for _event in source.aiter_sse():
                arrivals.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert max(gaps) >= 0.4  # the client timestamps events after parsing: allow some slack
    assert sorted(gaps)[-2] < 0.25  # one stall, not a slow stream
    assert server.stats.records[0].ok


async def test_stall_trips_an_idle_read_timeout_mid_stream() -> None:
    server = FakeProviderServer(script=[Fault.stall], stall_seconds=2.0)
    async with (
        server.run() as running,
        httpx.AsyncClient(
            base_url=running.base_url("openai"), timeout=httpx.Timeout(5.0, read=0.2)
        ) as client,
    ):
        path, headers, body = request_parts("openai", TEXT, stream=True)
        received = []
        with pytest.raises(httpx.ReadTimeout):
            async with aconnect_sse(client, "POST", path, headers=headers, json=body) as source:
                async for event in source.aiter_sse():
                    received.append(event.data)
    assert len(received) == 2  # the role chunk and the first word


async def test_run_binds_loopback_and_stops_without_lingering_tasks() -> None:
    before = asyncio.all_tasks()
    server = FakeProviderServer()
    async with server.run() as running:
        assert running.host == "127.0.0.1"
        assert running.port > 0
        assert running.url == f"http://127.0.0.1:{running.port}"
        assert running.base_url("openai") == f"{running.url}/v1"
    assert asyncio.all_tasks() == before
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(running.url)
