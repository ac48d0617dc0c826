"""Outage mode: one vendor failing every request for a while, its evidence, and Fallback and
CircuitBreaker over it end to end (real providers, in-process transport)."""

import argparse

import httpx
import pytest

from ashford_llm import (
    ChatMessage,
    CircuitOpenError,
    ClientBuilder,
    CompletionRequest,
    ServerError,
    StreamEnd,
)
from ashford_llm.cli import build_parser
from ashford_llm.config import ModelConfig
from ashford_llm.middleware import CircuitBreaker, Retry
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import FakeProviderServer, Fault, Outage
from ashford_llm.testing.fake_server.evidence import (
    CallTrace,
    index_records,
    note_fallback,
    note_retry,
    tag_attempt,
    track_call,
    unexplained,
)
from ashford_llm.testing.fake_server.faults import OutageSchedule

REQUEST = CompletionRequest([ChatMessage.user("one two three")])
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def provider(vendor: str, server: FakeProviderServer, client: httpx.AsyncClient) -> LLMProvider:
    wire = "gemini" if vendor == "google" else vendor
    return provider_from_config(
        ModelConfig(vendor, MODELS[vendor]),
        api_key="key",
        base_url=server.base_url(wire),
        http_client=client,
    )


# The schedule


def test_a_scheduled_outage_starts_after_the_first_request_and_ends_on_time() -> None:
    clock = Clock()
    schedule = OutageSchedule([Outage(vendor="anthropic", seconds=5, after=2)], clock=clock)
    clock.now += 100.0  # the server idles before its first request: that does not count
    assert schedule.fault("anthropic") is None
    clock.now += 2.0
    assert schedule.fault("anthropic") is Fault.unavailable
    assert schedule.fault("openai") is None
    clock.now += 4.9
    assert schedule.fault("anthropic") is Fault.unavailable
    clock.now += 0.2
    assert schedule.fault("anthropic") is None


def test_begin_starts_an_outage_now() -> None:
    clock = Clock()
    schedule = OutageSchedule(clock=clock)
    schedule.begin("google", 3, "overloaded")
    assert schedule.fault("gemini") is Fault.overloaded
    clock.now += 3.0
    assert schedule.fault("gemini") is None


def test_outages_are_checked_and_parsed() -> None:
    assert Outage.parse("anthropic:5") == Outage(vendor="anthropic", seconds=5.0)
    assert Outage.parse("openai:5:1.5:overloaded") == Outage(
        vendor="openai", seconds=5.0, after=1.5, fault=Fault.overloaded
    )
    for bad in ("anthropic", "anthropic:x", "mistral:5", "openai:5:0:rate_limit", "openai:-1"):
        with pytest.raises(ValueError, match=r"outage|rate_limit"):
            Outage.parse(bad)
    with pytest.raises(TypeError, match="Outage"):
        FakeProviderServer(outages=["anthropic:5"])  # type: ignore[list-item]


def test_the_fake_server_command_takes_outages() -> None:
    args = build_parser().parse_args(
        ["fake-server", "--outage", "anthropic:5", "--outage", "openai:2:1:server_error"]
    )
    assert args.outage == [
        Outage(vendor="anthropic", seconds=5),
        Outage(vendor="openai", seconds=2, after=1, fault=Fault.server_error),
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fake-server", "--outage", "nobody:5"])
    assert isinstance(args, argparse.Namespace)


# The server


async def test_an_outage_fails_every_request_of_its_vendor_only() -> None:
    server = FakeProviderServer(fault_rate=0.0)
    server.begin_outage("anthropic", 60)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        down, up = provider("anthropic", server, client), provider("openai", server, client)
        for _ in range(3):
            with pytest.raises(ServerError) as caught:
                await down.complete(REQUEST)
            assert caught.value.status == 503
        assert (await up.complete(REQUEST)).content == "one two three"
    stats = server.stats
    assert stats.outage_failures == {"anthropic": 3}
    assert stats.faults == {"unavailable": 3}
    assert [record.outage for record in stats.records] == [True, True, True, False]


async def test_evidence_explains_outage_failures_and_names_the_outage() -> None:
    server = FakeProviderServer()
    server.begin_outage("anthropic", 60, fault=Fault.overloaded)
    async with httpx.AsyncClient(
        transport=server.transport(), event_hooks={"request": [tag_attempt]}
    ) as client:
        down = provider("anthropic", server, client)
        with track_call("1") as trace:
            with pytest.raises(ServerError) as caught:
                await down.complete(REQUEST)
            trace.finish(caught.value)
    index = index_records(server.stats.records)
    assert caught.value.status == 529
    assert unexplained(trace, index) == []
    lie = CallTrace("1")
    lie.finish(None)  # a client claiming an answer the outage never gave
    (problem,) = unexplained(lie, index)
    assert "an outage of anthropic injected overloaded" in problem


def test_a_refused_attempt_is_explained_only_when_the_server_never_saw_it() -> None:
    trace = CallTrace("7")
    trace.finish(CircuitOpenError("open"))
    assert unexplained(trace, {}) == []
    from ashford_llm.testing.fake_server import ServedRecord

    record = ServedRecord(
        vendor="openai",
        model="m",
        stream=False,
        fault=None,
        status=200,
        text="x",
        ok=True,
        attempt="7/1",
    )
    (problem,) = unexplained(trace, index_records([record]))
    assert "refused by an open circuit, but the server recorded 1" in problem
    assert (trace.refused, trace.sent) == (1, 0)


# Fallback and CircuitBreaker over an outage


@pytest.mark.parametrize("stream", [False, True])
async def test_fallback_answers_from_another_vendor_during_an_outage(stream: bool) -> None:
    server = FakeProviderServer()
    server.begin_outage("anthropic", 60)
    async with httpx.AsyncClient(
        transport=server.transport(), event_hooks={"request": [tag_attempt]}
    ) as client:
        retry = {"max_retries": 1, "base_delay": 0.0, "max_delay": 0.0, "on_retry": note_retry}
        stack = (
            ClientBuilder()
            .fallback(provider("openai", server, client), on_fallback=note_fallback)
            .use(Retry, **retry)  # type: ignore[arg-type]
            .build(provider("anthropic", server, client))
        )
        with track_call("1") as trace:
            if stream:
                events = [event async for event in stack.stream(REQUEST)]
                end = events[-1]
                assert isinstance(end, StreamEnd)
                response = end.response
            else:
                response = await stack.complete(REQUEST)
            trace.finish(None)
    assert (response.provider, response.content, response.attempts) == (
        "openai",
        "one two three",
        3,
    )
    assert unexplained(trace, index_records(server.stats.records)) == []
    assert [record.vendor for record in server.stats.records] == [
        "anthropic",
        "anthropic",
        "openai",
    ]


async def test_the_breaker_opens_on_an_outage_and_fallback_moves_on_without_waiting() -> None:
    server = FakeProviderServer()
    server.begin_outage("anthropic", 60)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx.AsyncClient(
        transport=server.transport(), event_hooks={"request": [tag_attempt]}
    ) as client:
        stack = (
            ClientBuilder()
            .fallback(provider("openai", server, client), on_fallback=note_fallback)
            .use(Retry, max_retries=3, sleep=sleep, on_retry=note_retry)
            .use(CircuitBreaker, failure_threshold=3, window=60.0, cooldown=60.0)
            .build(provider("anthropic", server, client))
        )
        traces = []
        for call in range(1, 6):
            with track_call(str(call)) as trace:
                response = await stack.complete(REQUEST)
                trace.finish(None)
            traces.append(trace)
            assert response.provider == "openai"
            if call == 1:
                first_waits = list(waits)
    index = index_records(server.stats.records)
    assert [problem for trace in traces for problem in unexplained(trace, index)] == []
    assert server.stats.outage_failures == {"anthropic": 3}  # then the circuit stayed open
    assert len(first_waits) == 3
    assert waits == first_waits  # no wait after the circuit opened
    assert [trace.refused for trace in traces] == [1, 1, 1, 1, 1]
    assert [trace.attempt for trace in traces] == [5, 2, 2, 2, 2]
