"""Timeout's `idle` is reset by events the caller gets, never by a vendor's keep-alives.

Each vendor's provider reads a stream served over httpx.MockTransport whose body arrives in
timed pieces: the first text at once, then only keep-alives (Anthropic `ping` events, SSE
comment lines) for longer than `idle`, then the rest. The provider consumes keep-alives
without yielding anything, so `Timeout(idle=...)` gives up; the same pacing with text instead
of keep-alives runs to its end. Waits are tens of milliseconds; `idle` is ten times a gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, LLMTimeoutError, StreamEnd, TextDelta
from ashford_llm.middleware import Timeout
from ashford_llm.protocol import LLMProvider
from tests.reliability.vendors import VENDORS, make_provider, sse_events

REQUEST = CompletionRequest([ChatMessage.user("Hello")])
GAP = 0.03  # seconds between two pieces of the body
IDLE = 0.3  # Timeout's idle: ten gaps
KEEPALIVES = 20  # 0.6 s of keep-alives only: twice idle
COMMENT = ": keep-alive\n\n"
PING = 'event: ping\ndata: {"type": "ping"}\n\n'

KINDS = [(vendor, COMMENT) for vendor in VENDORS] + [("anthropic", PING)]
IDS = [f"{vendor}-{'ping' if keepalive == PING else 'comment'}" for vendor, keepalive in KINDS]


def split(vendor: str, pieces: list[str]) -> tuple[list[str], list[str]]:
    """The vendor's events up to and including the first text, and the rest."""
    events = sse_events(vendor, pieces)
    first_text = 2 if vendor == "anthropic" else 1  # Anthropic opens with message_start
    return events[:first_text], events[first_text:]


class PacedServer:
    """Serves `head` at once, then each of `paced` GAP apart, then `tail`; notes when."""

    def __init__(self, head: list[str], paced: list[str], tail: list[str]) -> None:
        self.head, self.paced, self.tail = head, paced, tail
        self.sent_at: list[float] = []

    async def body(self) -> AsyncIterator[bytes]:
        yield "".join(self.head).encode()
        for piece in self.paced:
            await asyncio.sleep(GAP)
            self.sent_at.append(time.monotonic())
            yield piece.encode()
        await asyncio.sleep(GAP)
        yield "".join(self.tail).encode()

    def handler(self, request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=self.body())


async def serve(vendor: str, server: PacedServer, idle: float | None) -> tuple[list[str], Any]:
    """Reads the stream through Timeout(idle=idle), or without Timeout when idle is None."""
    texts: list[str] = []
    outcome: Any = None
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as client:
        provider: LLMProvider = make_provider(vendor, "http://vendor.test", client, api_key="k-1")
        if idle is not None:
            provider = Timeout(provider, total=None, idle=idle)
        try:
            async for event in provider.stream(REQUEST):
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                else:
                    outcome = event
        except LLMTimeoutError as error:
            outcome = error
    return texts, outcome


@pytest.mark.parametrize(("vendor", "keepalive"), KINDS, ids=IDS)
async def test_keepalives_alone_do_not_reset_idle(vendor: str, keepalive: str) -> None:
    head, tail = split(vendor, ["Hel", "lo!"])
    server = PacedServer(head, [keepalive] * KEEPALIVES, tail)
    started = time.monotonic()
    texts, outcome = await serve(vendor, server, IDLE)
    assert isinstance(outcome, LLMTimeoutError), outcome
    assert "idle=0.3s" in outcome.message
    assert texts == ["Hel"]
    # The server really kept the connection busy inside the idle window, several times over.
    within_idle = [at for at in server.sent_at if at - started < IDLE]
    assert len(within_idle) >= 3


@pytest.mark.parametrize(("vendor", "keepalive"), KINDS, ids=IDS)
async def test_the_same_stream_without_timeout_is_whole(vendor: str, keepalive: str) -> None:
    """The provider skips the keep-alives: only the deadline above made the stream fail."""
    head, tail = split(vendor, ["Hel", "lo!"])
    texts, outcome = await serve(vendor, PacedServer(head, [keepalive] * KEEPALIVES, tail), None)
    assert texts == ["Hel", "lo!"]
    assert isinstance(outcome, StreamEnd)
    assert outcome.response.content == "Hello!"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_events_arriving_within_idle_keep_the_stream_going(vendor: str) -> None:
    pieces = ["a"] * KEEPALIVES
    head, rest = split(vendor, ["Hel", *pieces])
    texts, outcome = await serve(
        vendor, PacedServer(head, rest[:KEEPALIVES], rest[KEEPALIVES:]), IDLE
    )
    assert isinstance(outcome, StreamEnd), outcome
    assert texts == ["Hel", *pieces]
