"""Fault-injection soak: the recommended stack over the three providers against the fake server.

Every call goes over real loopback sockets to the fake vendor server, which injects faults
at fixed rates from a seed (429s with a short retry-after, 500/503/529, dropped connections,
malformed and HTML bodies, stalled streams, streams cut before their terminal event or broken
by an error event, slow first bytes). Each call is checked as it ends and against what the
server recorded: it ended as a success or a typed LLMError; a success carries exactly the
text the server sent for it (streamed deltas, StreamEnd and server record all equal); a
failure after streamed text was surfaced; attempts stay within the retry limit and time
within the budget; the server saw exactly the attempts the stack reports. Every failure and
every retry is proved by evidence: each request names its attempt in the `x-ashford-attempt`
header, the server logs the fault it injected under that name, and the error of each attempt
(Retry's `on_retry` hook, Fallback's `on_fallback` hook for the last attempt on a provider
it left, then the call's result) must be one that fault causes
(`fake_server.evidence.FAULT_OUTCOMES`), and an attempt an open circuit refused must have
reached no server; anything else is a breach. Each vendor's stack (Retry, CircuitBreaker,
RateLimit, Timeout, JsonValidation) is built once, and each call goes through Tracing and a
Fallback over its vendor's stack then the other two, so an outage of one vendor part-way
through the run (anthropic by default) opens its circuit and moves its calls to the others.
At the end no task is pending, no connection is open, every limiter slot is free, and RSS
grew by less than 20 MB between the checkpoint (a tenth of the calls) and the end.

    python benchmarks/soak.py --calls 10000 --seed 7     # the full run
    python benchmarks/soak.py --calls 1000               # the CI size

Prints a table and writes `benchmarks/results/soak.json` (or `--out`) with the run's date, command,
machine and load average under `meta`; exits 1 on any breach.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from ashford_llm.builder import ClientBuilder
from ashford_llm.config import ModelConfig
from ashford_llm.errors import FatalError, LLMError, MidStreamError
from ashford_llm.middleware import (
    Cache,
    CircuitBreaker,
    Cost,
    CostLedger,
    Fallback,
    FallbackEvent,
    JsonValidation,
    MemoryCache,
    MemoryCircuitBackend,
    RateLimit,
    RateLimiter,
    Retry,
    RetryEvent,
    Timeout,
    Tracing,
)
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers._http import DEFAULT_LIMITS, DEFAULT_TIMEOUT
from ashford_llm.providers.registry import ProviderFactory, provider_from_config
from ashford_llm.testing.fake_server import (
    AnswerRequest,
    FakeProviderServer,
    Outage,
    ServedRecord,
)
from ashford_llm.testing.fake_server.evidence import (
    CallTrace,
    index_records,
    note_fallback,
    note_retry,
    tag_attempt,
    track_call,
    unexplained,
)
from ashford_llm.types import ChatMessage, CompletionRequest, StreamEnd, TextDelta

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import resultfile  # noqa: E402

RESULTS = HERE / "results" / "soak.json"
KEY = "soak-key"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
# Relative weights of the injected faults; quota_exhausted gives the FatalError path.
FAULTS = {
    "rate_limit": 3,
    "server_error": 2,
    "unavailable": 1,
    "overloaded": 1,
    "dropped_connection": 2,
    "malformed_json": 2,
    "html_error": 1,
    "stall": 2,
    "cut_stream": 2,
    "mid_stream_error": 1,
    "slow_first_byte": 2,
    "quota_exhausted": 1,
}
MAX_RETRIES = 4
RETRY_BUDGET_S = 5.0
TOTAL_S = 3.0  # Timeout per attempt
IDLE_S = 1.0  # a stall (STALL_S) is longer, a slow first byte (SLOW_S) shorter than FIRST_S
FIRST_S = 2.0
STALL_S = 2.0
SLOW_S = 0.1
RETRY_AFTER_S = 0.05
SLACK_S = 1.0
# A circuit opens when 90% of at least 10 attempts within a second failed: an outage (every
# attempt failing) does that at any pace, the fault mix (about a third failing) practically
# never, however fast the calls come. Every refusal is proved like any other failed attempt.
CIRCUIT = {"failure_ratio": 0.9, "minimum_calls": 10, "window": 1.0, "cooldown": 0.5}
OUTAGE = "anthropic:3:1"  # VENDOR:SECONDS:AFTER (after the server's first request)
RSS_GROWTH_LIMIT_KIB = 20 * 1024
_MARKER = re.compile(r"soak-(\d{6})")
_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
_TCP_IGNORED_STATES = {"06", "07", "0A"}  # TIME_WAIT, CLOSE, LISTEN


@dataclass(frozen=True)
class Settings:
    """The size and shape of one soak run."""

    calls: int = 1000
    seed: int = 7
    concurrency: int = 32
    fault_rate: float = 0.3
    outage: str = OUTAGE  # or "none"

    @property
    def checkpoint(self) -> int:
        """The call count at which the baseline RSS is taken (a tenth of the run)."""
        return max(1, self.calls // 10)

    @property
    def time_limit_s(self) -> float:
        """The longest a call may take: on each provider the retry budget and one last
        attempt, and some slack."""
        return len(MODELS) * (RETRY_BUDGET_S + TOTAL_S) + SLACK_S

    @property
    def max_attempts(self) -> int:
        """The most attempts a call may make: every retry on every provider."""
        return len(MODELS) * (MAX_RETRIES + 1)


@dataclass(slots=True)
class Outcome:
    """How one call ended, kept small so 10,000 of them do not distort the RSS figure."""

    index: int
    vendor: str
    streamed: bool
    attempts: int
    latency_s: float
    error: str | None  # the error's class name; None for a success
    typed: bool = True
    saw_text: bool = False
    trace: CallTrace | None = None  # each attempt's outcome, for the evidence check
    answered_by: str | None = None  # the provider that answered (another after a fallback)

    @property
    def sent(self) -> int:
        """The attempts that sent a request (an open circuit refuses without sending)."""
        return self.attempts - (self.trace.refused if self.trace is not None else 0)


@dataclass
class Report:
    """The soak's figures and every breach of its rules (empty when the run is clean)."""

    settings: dict[str, Any]
    calls: int = 0
    streamed: int = 0
    server_requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    successes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    retries: int = 0
    retry_causes: dict[str, int] = field(default_factory=dict)
    switches: int = 0
    switch_causes: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    refused: int = 0
    outage_failures: dict[str, int] = field(default_factory=dict)
    circuit_transitions: dict[str, int] = field(default_factory=dict)
    failed_attempts: int = 0
    unexplained: int = 0
    max_attempts: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    spans: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    sockets_before_close: int = 0
    sockets_after_close: int = 0
    rss_checkpoint_kib: int = 0
    rss_end_kib: int = 0
    wall_s: float = 0.0
    violations: list[str] = field(default_factory=list)


class CountingEcho:
    """The server's answer function: echoes the user message and counts requests per call.

    The server calls it for every request it parsed, whatever fault it then injects, so
    its counts are the server's view of each call's attempts.
    """

    def __init__(self) -> None:
        self.requests: Counter[int] = Counter()

    def __call__(self, request: AnswerRequest) -> str:
        text = request.last_user_text
        found = _MARKER.search(text)
        if found:
            self.requests[int(found.group(1))] += 1
        return text


class RetryCauses:
    """Retry's `on_retry` hook: counts the errors that caused a retry, by class, and notes
    each in the call's CallTrace (the evidence check matches it to its injected fault)."""

    def __init__(self) -> None:
        self.causes: Counter[str] = Counter()

    def __call__(self, event: RetryEvent) -> None:
        self.causes[type(event.error).__name__] += 1
        note_retry(event)


class SwitchCauses:
    """Fallback's `on_fallback` hook: counts the errors that made it move on, by class, and
    notes each in the call's CallTrace (the evidence check matches it to its fault)."""

    def __init__(self) -> None:
        self.causes: Counter[str] = Counter()

    def __call__(self, event: FallbackEvent) -> None:
        self.causes[type(event.error).__name__] += 1
        note_fallback(event)


class SpanCounter(SpanProcessor):
    """Counts ended spans and keeps none, so tracing is real but memory stays flat."""

    def __init__(self) -> None:
        self.started = 0
        self.ended = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


def expected_text(index: int, seed: int) -> str:
    """Returns the user message of call `index`: JSON with its marker, echoed by the server."""
    rng = random.Random(seed * 1_000_003 + index)
    words = " ".join(rng.choices(_WORDS.split(), k=rng.randint(3, 30)))
    return json.dumps({"call": f"soak-{index:06d}", "text": words})


def plan(index: int) -> tuple[str, bool, bool]:
    """Returns call `index`'s vendor, whether it streams and whether it asks for JSON."""
    vendors = list(MODELS)
    return vendors[index % 3], (index // 3) % 2 == 1, (index // 6) % 2 == 1


def build_stacks(
    base_url: Callable[[str], str],
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    limiters: dict[str, RateLimiter],
    on_retry: RetryCauses,
    on_fallback: SwitchCauses,
    *,
    http_clients: dict[str, httpx.AsyncClient],
    provider_factory: ProviderFactory = provider_from_config,
    ledger: CostLedger | None = None,
) -> dict[str, LLMProvider]:
    """Builds each vendor's stack once (over a provider made by `provider_factory`), then
    per vendor Tracing over a Fallback from its stack to the other two.

    Each vendor's stack has its own limiter, so the stacks are built one by one and given to
    Fallback (the builder's `fallback()` would give every provider the same options). Cost
    prices every answer into `ledger`; Cache sits above Fallback (every soak request is
    unique, so it only ever misses and stores: its lookups and single flight are exercised
    under the faults, and a hit would break the server-count check).
    """
    circuits = MemoryCircuitBackend()
    inner: dict[str, LLMProvider] = {}
    for vendor, model in MODELS.items():
        config = ModelConfig(vendor, model, max_output_tokens=200)
        terminal = provider_factory(
            config, api_key=KEY, base_url=base_url(vendor), http_client=http_clients[vendor]
        )
        inner[vendor] = (
            ClientBuilder()
            .use(
                Retry,
                max_retries=MAX_RETRIES,
                base_delay=0.02,
                max_delay=1.0,
                budget=RETRY_BUDGET_S,
                on_retry=on_retry,
            )
            .use(CircuitBreaker, backend=circuits, meter_provider=meter_provider, **CIRCUIT)
            .use(RateLimit, backend=limiters[vendor])
            .use(Timeout, total=TOTAL_S, first_token=FIRST_S, idle=IDLE_S)
            .use(JsonValidation)
            .use(Cost, ledger=ledger, meter_provider=meter_provider)
            .build(terminal)
        )
    tracing = (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(Cache, backend=MemoryCache(max_entries=256), meter_provider=meter_provider)
    )
    return {
        vendor: tracing.build(
            Fallback(
                inner[vendor],
                *(inner[other] for other in MODELS if other != vendor),
                on_fallback=on_fallback,
            )
        )
        for vendor in MODELS
    }


async def call(index: int, stack: LLMProvider, settings: Settings, problems: list[str]) -> Outcome:
    """Makes call `index` and checks what it can see alone; appends breaches to `problems`."""
    vendor, streamed, wants_json = plan(index)
    text = expected_text(index, settings.seed)
    request = CompletionRequest(
        [ChatMessage.system("Repeat the user's message."), ChatMessage.user(text)],
        json_mode=wants_json,
    )
    outcome = Outcome(index, vendor, streamed, attempts=0, latency_s=0.0, error=None)
    started = time.perf_counter()
    with track_call(str(index)) as outcome.trace:
        await _call(stack, request, outcome, text, settings.time_limit_s + 10.0, problems)
    outcome.latency_s = time.perf_counter() - started
    if not 1 <= outcome.attempts <= settings.max_attempts and outcome.typed:
        problems.append(f"call {index}: {outcome.attempts} attempts reported")
    if outcome.latency_s > settings.time_limit_s:
        problems.append(f"call {index}: took {outcome.latency_s:.2f}s")
    return outcome


async def _call(
    stack: LLMProvider,
    request: CompletionRequest,
    outcome: Outcome,
    text: str,
    hang_s: float,
    problems: list[str],
) -> None:
    """Makes the call, notes its last attempt's outcome in its trace and checks its result."""
    index, streamed, wants_json = outcome.index, outcome.streamed, request.json_mode
    trace = outcome.trace
    assert trace is not None
    deltas: list[str] = []
    try:
        async with asyncio.timeout(hang_s):
            if streamed:
                final = None
                async for event in stack.stream(request):
                    if isinstance(event, TextDelta):
                        deltas.append(event.text)
                    elif isinstance(event, StreamEnd):
                        final = event.response
                if final is None:
                    raise AssertionError("stream ended without a StreamEnd")
                response = final
            else:
                response = await stack.complete(request)
    except LLMError as error:
        trace.finish(error)
        outcome.error = type(error).__name__
        outcome.attempts = error.attempts or 0
        outcome.saw_text = bool(deltas)
        if deltas and not isinstance(error, MidStreamError | FatalError):
            problems.append(f"call {index}: failed after text with {outcome.error}, not surfaced")
        if isinstance(error, MidStreamError) and error.partial_text != "".join(deltas):
            problems.append(f"call {index}: MidStreamError.partial_text differs from the deltas")
    except Exception as error:  # the soak exists to catch these
        trace.finish(error)
        outcome.error = type(error).__name__
        outcome.typed = False
        problems.append(f"call {index}: untyped {type(error).__name__}: {error}")
    else:
        trace.finish(None)
        outcome.attempts = response.attempts
        outcome.answered_by = response.provider
        if response.content != text:
            problems.append(f"call {index}: content differs from what the server sent")
        if streamed and "".join(deltas) != response.content:
            problems.append(f"call {index}: deltas differ from the StreamEnd content")
        if wants_json and response.parsed != json.loads(text):
            problems.append(f"call {index}: parsed JSON differs from the text")


def check_against_server(
    outcomes: list[Outcome], records: tuple[ServedRecord, ...], requests: Counter[int], seed: int
) -> list[str]:
    """Matches each call with the server's requests and records of it (by its marker)."""
    problems: list[str] = []
    by_call: dict[int, list[ServedRecord]] = {}
    for record in records:
        found = _MARKER.search(record.text)
        if found:
            by_call.setdefault(int(found.group(1)), []).append(record)
    for outcome in outcomes:
        seen = by_call.get(outcome.index, [])
        if requests[outcome.index] != outcome.sent:
            problems.append(
                f"call {outcome.index} ({outcome.vendor}, "
                f"{'stream' if outcome.streamed else 'complete'}, {outcome.error or 'ok'}): "
                f"server saw {requests[outcome.index]} requests, stack reports "
                f"{outcome.sent} attempts"
            )
        if outcome.error is not None:
            continue
        oks = [record for record in seen if record.ok]
        if len(oks) != 1 or oks[0].text != expected_text(outcome.index, seed):
            problems.append(
                f"call {outcome.index}: succeeded but the server sent {len(oks)} whole answers"
            )
    return problems


def check_evidence(outcomes: list[Outcome], records: tuple[ServedRecord, ...]) -> list[str]:
    """Matches each attempt's outcome to the fault the server injected into it (by its header).

    Names every failure or retry no injected fault explains, every wrong error class for a
    fault, and every attempt the server has no single record of.
    """
    index = index_records(records)
    problems: list[str] = []
    for outcome in outcomes:
        if outcome.trace is None:
            problems.append(f"call {outcome.index}: no trace of its attempts")
            continue
        problems += unexplained(outcome.trace, index)
        if outcome.typed and outcome.trace.attempt != outcome.attempts:
            problems.append(
                f"call {outcome.index}: the stack reports {outcome.attempts} attempts, "
                f"its hooks saw {outcome.trace.attempt}"
            )
    return problems


def rss_kib() -> int:
    """Returns this process's resident set size in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


def open_sockets(port: int) -> int:
    """Counts loopback TCP sockets to or from `port` not yet closed (client and server ends)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        ports = {int(local.split(":")[1], 16), int(remote.split(":")[1], 16)}
        if port in ports and state not in _TCP_IGNORED_STATES:
            count += 1
    return count


async def _settled(probe: Any, *, limit_s: float = 5.0) -> int:
    """Polls `probe()` until it returns 0 or the limit passes; returns its last value."""
    deadline = time.monotonic() + limit_s
    value: int = probe()
    while value and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        value = probe()
    return value


async def watch_loop_lag(lags: list[float], *, every_s: float = 0.05) -> None:
    """Records how late each short sleep wakes (the event loop's lag) until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(every_s)
        lags.append(loop.time() - started - every_s)


async def _slots_free(limiter: RateLimiter, slots: int) -> bool:
    """Says whether every concurrency slot can be taken at once (so none leaked)."""
    permits = []
    try:
        async with asyncio.timeout(1.0):
            for _ in range(slots):
                permits.append(await limiter.acquire(input_tokens=1, output_tokens=1))
    except TimeoutError:
        return False
    finally:
        for permit in permits:
            await limiter.release(permit)
    return True


async def run_soak(
    settings: Settings, *, provider_factory: ProviderFactory = provider_from_config
) -> Report:
    """Runs the soak in the current event loop and returns its figures and breaches.

    `provider_factory` builds each vendor's provider (default: the real one); tests pass a
    deliberately broken one to prove the evidence check names what no fault explains.
    """
    report = Report(settings=asdict(settings))
    echo = CountingEcho()
    outages = () if settings.outage == "none" else (Outage.parse(settings.outage),)
    server = FakeProviderServer(
        api_key=KEY,
        answer=echo,
        fault_rate=settings.fault_rate,
        faults=FAULTS,
        seed=settings.seed,
        retry_after=RETRY_AFTER_S,
        slow_seconds=SLOW_S,
        stall_seconds=STALL_S,
        chunk_delay=0.001,
        outages=outages,
    )
    spans = SpanCounter()
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(spans)
    limiters = {
        vendor: RateLimiter(
            requests_per_minute=60_000,
            tokens_per_minute=20_000_000,
            max_concurrency=settings.concurrency,
        )
        for vendor in MODELS
    }
    problems: list[str] = []
    outcomes: list[Outcome] = []
    lags: list[float] = []
    causes = RetryCauses()
    switches = SwitchCauses()
    started = time.perf_counter()
    clients = {
        vendor: httpx.AsyncClient(
            event_hooks={"request": [tag_attempt]}, limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT
        )
        for vendor in MODELS
    }
    ledger = CostLedger()  # what the vendors billed, over every stack
    async with server.run() as running:
        watcher = asyncio.create_task(watch_loop_lag(lags), name="soak-loop-lag")
        stacks = build_stacks(
            running.base_url,
            tracer_provider,
            meter_provider,
            limiters,
            causes,
            switches,
            http_clients=clients,
            provider_factory=provider_factory,
            ledger=ledger,
        )
        gate = asyncio.Semaphore(settings.concurrency)

        async def one(index: int) -> None:
            async with gate:
                outcomes.append(await call(index, stacks[plan(index)[0]], settings, problems))
            if len(outcomes) == settings.checkpoint:
                gc.collect()
                report.rss_checkpoint_kib = rss_kib()

        async with asyncio.TaskGroup() as group:
            for index in range(settings.calls):
                group.create_task(one(index))
        report.wall_s = time.perf_counter() - started
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        lags.sort()
        report.loop_lag_p99_ms = 1000.0 * lags[int(len(lags) * 0.99)] if lags else 0.0
        report.loop_lag_max_ms = 1000.0 * lags[-1] if lags else 0.0
        for vendor, limiter in limiters.items():
            if not await _slots_free(limiter, settings.concurrency):
                problems.append(f"{vendor}: a rate-limit slot was never given back")
        report.sockets_before_close = open_sockets(running.port)
        for stack in stacks.values():
            await stack.aclose()
        for client in clients.values():
            await client.aclose()
        report.sockets_after_close = await _settled(lambda: open_sockets(running.port))
        if report.sockets_after_close:
            problems.append(
                f"{report.sockets_after_close} socket(s) still open after every provider was closed"
            )
    stats = server.stats
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        problems.append(f"{len(others)} task(s) still pending: {others[:3]}")
    gc.collect()
    report.rss_end_kib = rss_kib()
    _fill(report, outcomes, stats.records, stats.faults, spans)
    report.retry_causes = dict(causes.causes.most_common())
    report.switch_causes = dict(switches.causes.most_common())
    report.switches = sum(switches.causes.values())
    report.retries -= report.switches
    report.outage_failures = stats.outage_failures
    report.circuit_transitions = _transitions(metrics)
    report.cost_usd = float(ledger.total)
    report.cost_unknown = sum(ledger.unknown_calls().values())
    meter_provider.shutdown()
    if sum(causes.causes.values()) != report.retries:
        problems.append(
            f"Retry announced {sum(causes.causes.values())} retries, made {report.retries}"
        )
    problems += check_against_server(outcomes, stats.records, echo.requests, settings.seed)
    evidence = check_evidence(outcomes, stats.records)
    report.unexplained = len(evidence)
    report.failed_attempts = sum(
        attempt.error is not None
        for outcome in outcomes
        if outcome.trace is not None
        for attempt in outcome.trace.attempts.values()
    )
    problems += evidence
    if report.server_requests != report.attempts - report.refused:
        problems.append(
            f"server saw {report.server_requests} requests, the stack reports "
            f"{report.attempts - report.refused} attempts sent"
        )
    if spans.started != spans.ended or spans.ended != settings.calls:
        problems.append(f"{spans.started} spans started, {spans.ended} ended, for {settings.calls}")
    if len(outcomes) != settings.calls:
        problems.append(f"{len(outcomes)} of {settings.calls} calls ended")
    if report.rss_end_kib - report.rss_checkpoint_kib > RSS_GROWTH_LIMIT_KIB:
        problems.append(
            f"RSS grew {(report.rss_end_kib - report.rss_checkpoint_kib) / 1024:.1f} MB "
            f"after call {settings.checkpoint}"
        )
    tracer_provider.shutdown()
    report.violations = problems
    return report


def _fill(
    report: Report,
    outcomes: list[Outcome],
    records: tuple[ServedRecord, ...],
    faults: dict[str, int],
    spans: SpanCounter,
) -> None:
    """Puts the run's figures into the report."""
    latencies = sorted(outcome.latency_s * 1000.0 for outcome in outcomes) or [0.0]
    report.calls = len(outcomes)
    report.streamed = sum(outcome.streamed for outcome in outcomes)
    report.server_requests = len(records)
    report.faults = dict(sorted(faults.items(), key=lambda item: -item[1]))
    report.successes = sum(outcome.error is None for outcome in outcomes)
    report.failures = dict(
        Counter(outcome.error for outcome in outcomes if outcome.error).most_common()
    )
    report.attempts = sum(outcome.attempts for outcome in outcomes)
    report.retries = report.attempts - report.calls  # less the switches, once counted
    report.refused = sum(o.trace.refused for o in outcomes if o.trace is not None)
    report.fallbacks = sum(
        o.answered_by is not None and o.answered_by != o.vendor for o in outcomes
    )
    report.max_attempts = max((outcome.attempts for outcome in outcomes), default=0)
    report.p50_ms = statistics.median(latencies)
    report.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    report.max_ms = latencies[-1]
    report.spans = spans.ended


def _transitions(reader: InMemoryMetricReader) -> dict[str, int]:
    """Reads the circuit breakers' transition counter: the transitions, by state entered."""
    counts: Counter[str] = Counter()
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "ashford.circuit.transitions":
                    for point in metric.data.data_points:
                        state = str((point.attributes or {}).get("ashford.circuit.state"))
                        counts[state] += int(getattr(point, "value", 0))
    return dict(counts)


def format_report(report: Report) -> str:
    """Returns the figures as a markdown table, then any breaches."""
    faults = ", ".join(f"{kind} {count}" for kind, count in report.faults.items())
    failures = ", ".join(f"{kind} {count}" for kind, count in report.failures.items()) or "none"
    growth = (report.rss_end_kib - report.rss_checkpoint_kib) / 1024
    rows = [
        ("calls (streamed)", f"{report.calls:,} ({report.streamed:,})"),
        (
            "server requests = attempts sent (refused)",
            f"{report.server_requests:,} = {report.attempts - report.refused:,} "
            f"({report.refused:,})",
        ),
        ("faults injected", f"{sum(report.faults.values()):,}: {faults}"),
        ("successes", f"{report.successes:,}"),
        ("typed failures", f"{report.calls - report.successes:,}: {failures}"),
        ("retries (most attempts)", f"{report.retries:,} ({report.max_attempts})"),
        ("retry causes", ", ".join(f"{k} {v}" for k, v in report.retry_causes.items()) or "none"),
        (
            "fallback switches (calls answered by another vendor)",
            f"{report.switches:,} ({report.fallbacks:,}): "
            + (", ".join(f"{k} {v}" for k, v in report.switch_causes.items()) or "none"),
        ),
        (
            "outage failures; circuit transitions",
            (", ".join(f"{k} {v}" for k, v in report.outage_failures.items()) or "none")
            + "; "
            + (", ".join(f"{k} {v}" for k, v in report.circuit_transitions.items()) or "none"),
        ),
        (
            "failed attempts; evidence breaches",
            f"{report.failed_attempts:,}; {report.unexplained:,}",
        ),
        (
            "latency p50 / p99 / max",
            f"{report.p50_ms:.0f} / {report.p99_ms:.0f} / {report.max_ms:.0f} ms",
        ),
        ("spans", f"{report.spans:,}"),
        ("cost (answers of unknown price)", f"${report.cost_usd:.4f} ({report.cost_unknown})"),
        (
            "event-loop lag p99 / max",
            f"{report.loop_lag_p99_ms:.0f} / {report.loop_lag_max_ms:.0f} ms",
        ),
        (
            "loopback sockets open before / after close",
            f"{report.sockets_before_close} / {report.sockets_after_close}",
        ),
        (
            f"RSS after {report.settings['calls'] // 10:,} / {report.calls:,} calls",
            f"{report.rss_checkpoint_kib / 1024:.1f} / {report.rss_end_kib / 1024:.1f} MB "
            f"({growth:+.1f} MB)",
        ),
        (
            "wall time",
            f"{report.wall_s:.1f} s ({report.calls / max(report.wall_s, 1e-9):.0f} calls/s)",
        ),
        ("breaches", f"{len(report.violations)}"),
    ]
    lines = ["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    lines += [f"BREACH: {problem}" for problem in report.violations[:50]]
    return "\n".join(lines)


def main(
    argv: list[str] | None = None, *, provider_factory: ProviderFactory = provider_from_config
) -> int:
    """Runs the soak from the command line; returns 1 when any rule was breached."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--outage", default=OUTAGE, help="VENDOR:SECONDS:AFTER, or none")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.calls < 1 or args.concurrency < 1 or not 0 <= args.fault_rate <= 1:
        parser.error("--calls and --concurrency must be >= 1, --fault-rate within [0, 1]")
    settings = Settings(
        calls=args.calls,
        seed=args.seed,
        concurrency=args.concurrency,
        fault_rate=args.fault_rate,
        outage=args.outage,
    )
    load_at_start = os.getloadavg()
    report = asyncio.run(run_soak(settings, provider_factory=provider_factory))
    print(format_report(report))
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "command": resultfile.command("soak.py", argv),
        "load_average_at_start": load_at_start,
        **resultfile.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, **asdict(report)}, indent=2) + "\n")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
