"""`ashford-llm demo`: the main job, an e-mail classifier, on the built-in fake vendor server.

It starts the fake server on loopback with a seeded mix of faults and an outage of one
vendor part-way through, builds the recommended stack (Tracing, Fallback, Retry,
CircuitBreaker, RateLimit, Timeout, JsonValidation) with each of the three providers first and
the other two as fallbacks, classifies a sample inbox into labels (JSON output decoded into a
schema, some calls streamed), and reports every call and a summary. During the outage the
vendor's circuit opens (one circuit per provider and model, shared by every stack), so its
e-mails are answered by a fallback vendor at once instead of after a round of retries.

Every failure and every retry is proved, not counted: each HTTP request carries the
`x-ashford-attempt` header (`<call>/<attempt>`), the server logs the fault it injected into
each request under that name, and each attempt's outcome (Retry's `on_retry` hook for the
retried ones, Fallback's `on_fallback` hook for the last attempt on a provider it left, the
call's result for the last) must be one that fault causes
(`fake_server.evidence.FAULT_OUTCOMES`), and an attempt refused by an open circuit must have
reached no server. A wrong label, an untyped error, or a failure or retry no injected fault
explains is named in the report and makes the command exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING

from ashford_llm.builder import ClientBuilder
from ashford_llm.cli._demo_data import (
    INBOX,
    SYSTEM_PROMPT,
    EmailLabel,
    attachment,
    classify_email,
)
from ashford_llm.cli._demo_report import CallResult, print_report
from ashford_llm.config import ModelConfig
from ashford_llm.errors import CircuitOpenError, LLMError
from ashford_llm.middleware import (
    CircuitBreaker,
    JsonValidation,
    MemoryCircuitBackend,
    RateLimit,
    Retry,
    Timeout,
    Tracing,
)
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers._http import DEFAULT_LIMITS, DEFAULT_TIMEOUT
from ashford_llm.providers.registry import ProviderFactory, provider_from_config
from ashford_llm.types import ChatMessage, CompletionRequest, CompletionResponse, StreamEnd

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ashford_llm.testing.fake_server import RunningServer, ServedRecord, ServerStats

DEMO_KEY = "demo-key"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
# Faults a well-built stack survives or reports as a typed error; weights are relative.
FAULT_MIX = {
    "rate_limit": 3,
    "server_error": 2,
    "unavailable": 1,
    "overloaded": 1,
    "slow_first_byte": 1,
    "dropped_connection": 1,
    "html_error": 1,
    "malformed_json": 1,
    "stall": 1,
    "cut_stream": 1,
    "mid_stream_error": 1,
    "quota_exhausted": 1,
}
# One vendor fails every request for a while, part-way through the run (VENDOR:SECONDS:AFTER).
DEFAULT_OUTAGE = "anthropic:1:0.2"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the `demo` command and its options."""
    parser = commands.add_parser(
        "demo",
        help="run the main job (an e-mail classifier) on the built-in fake vendor server",
    )
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of faulty replies")
    parser.add_argument("--seed", type=int, default=7, help="seed of the fault plan")
    parser.add_argument("--calls", type=int, default=60, help="e-mails to classify")
    parser.add_argument("--concurrency", type=int, default=6, help="calls in flight at once")
    parser.add_argument(
        "--outage",
        default=DEFAULT_OUTAGE,
        metavar="VENDOR:SECONDS[:AFTER]",
        help="make one vendor (openai, anthropic, gemini) fail every request for SECONDS, "
        f"AFTER seconds into the run, or 'none' (default {DEFAULT_OUTAGE})",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        help="export spans and metrics over OTLP/HTTP to this base URL "
        "(default: $OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    parser.add_argument(
        "--no-otlp-metrics", action="store_true", help="export spans only (e.g. to Phoenix)"
    )
    parser.add_argument(
        "--project", default="ashford-demo", help="the trace project name backends group by"
    )


def _telemetry(
    args: argparse.Namespace,
) -> tuple[TracerProvider, MeterProvider, InMemorySpanExporter]:
    """Builds SDK tracer and meter providers: in memory, plus OTLP/HTTP when asked."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    resource = Resource.create(
        {"service.name": "ashford-llm-demo", "openinference.project.name": args.project}
    )
    memory = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    readers: list[MetricReader] = []
    if args.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        root = args.otlp_endpoint.rstrip("/")
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{root}/v1/traces"))
        )
        if not args.no_otlp_metrics:
            exporter = OTLPMetricExporter(endpoint=f"{root}/v1/metrics")
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=5000))
    return tracer_provider, MeterProvider(resource=resource, metric_readers=readers), memory


def build_stack(
    vendor: str,
    running: RunningServer,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    *,
    http_client: httpx.AsyncClient,
    circuits: MemoryCircuitBackend,
    provider_factory: ProviderFactory = provider_from_config,
) -> LLMProvider:
    """Builds the recommended stack with `vendor` first and the other two as its fallbacks.

    Each provider gets its own Retry, CircuitBreaker, RateLimit, Timeout and JsonValidation
    (the layers after `fallback`); the breakers keep their circuits in `circuits`, one per
    provider and model, so every stack sees one vendor's outage. `provider_factory(config,
    api_key=, base_url=, http_client=)` makes each provider; a test passes a deliberately
    broken one to prove the evidence check fails the run.
    """
    from ashford_llm.testing.fake_server.evidence import note_fallback, note_retry

    def terminal(name: str) -> LLMProvider:
        config = ModelConfig(name, MODELS[name], max_output_tokens=200)
        return provider_factory(
            config, api_key=DEMO_KEY, base_url=running.base_url(name), http_client=http_client
        )

    others = [terminal(name) for name in MODELS if name != vendor]
    builder = (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider, meter_provider=meter_provider)
        .fallback(*others, on_fallback=note_fallback)
        .use(Retry, max_retries=4, base_delay=0.05, max_delay=2.0, budget=20.0, on_retry=note_retry)
        .use(
            CircuitBreaker,
            failure_threshold=6,  # the fault mix alone rarely fails 6 attempts in 0.5 s
            window=0.5,
            cooldown=0.3,
            backend=circuits,
            meter_provider=meter_provider,
        )
        .use(RateLimit, requests_per_minute=1200, max_concurrency=4)
        .use(Timeout, total=5.0, first_token=2.0, idle=0.5)
        .use(JsonValidation, schema=EmailLabel)
    )
    return builder.build(terminal(vendor))


async def classify(
    index: int, stack: LLMProvider, email: str, expected: str, *, stream: bool
) -> CallResult:
    """Classifies one e-mail, noting each attempt's outcome in the result's CallTrace.

    Judging waits for the server's log (`judge`); only a wrong label and an untyped error are
    known to be wrong here.
    """
    from ashford_llm.testing.fake_server.evidence import track_call

    attached = attachment(index, expected)
    user = ChatMessage.user(email) if attached is None else ChatMessage.user(email, attached)
    request = CompletionRequest([ChatMessage.system(SYSTEM_PROMPT), user], json_mode=True)
    started = time.perf_counter()
    result = CallResult(
        index=index,
        provider=stack.name,
        streamed=stream,
        expected=expected,
        attachment=None if attached is None else attached.media_type,
    )
    with track_call(str(index)) as trace:
        result.trace = trace
        try:
            response = await _call(stack, request, stream=stream)
        except LLMError as error:
            trace.finish(error)
            result.error = error
            result.attempts = error.attempts or 1
        except Exception as error:  # an untyped failure is exactly what the demo must flag
            trace.finish(error)
            result.error = error
            result.problems.append(f"call {index}: untyped {type(error).__name__}: {error}")
        else:
            trace.finish(None)
            parsed: EmailLabel = response.parsed
            result.response = response
            result.answered_by = response.provider
            result.label = parsed.label
            result.attempts = response.attempts
            if parsed.label != expected:
                result.problems.append(f"call {index}: label {parsed.label}, expected {expected}")
    result.latency_ms = (time.perf_counter() - started) * 1000.0
    return result


def judge(results: list[CallResult], stats: ServerStats) -> None:
    """Matches every call's attempts to the server's log; adds what no fault explains."""
    from ashford_llm.testing.fake_server.evidence import index_records, unexplained

    index = index_records(stats.records)
    for result in results:
        if result.trace is None:
            continue
        logged = index.get(result.trace.call_id, {})
        for number in range(1, result.trace.attempt + 1):
            records = logged.get(number, [])
            attempt = result.trace.attempts.get(number)
            if attempt is not None and attempt.error is CircuitOpenError:
                result.faults.append("circuit_open")  # refused: no request was sent
            else:
                result.faults.append(_fault_name(records))
        result.problems += unexplained(result.trace, index)
        if result.trace.attempt != result.attempts:
            result.problems.append(
                f"call {result.index}: the stack reports {result.attempts} attempts, "
                f"its hooks saw {result.trace.attempt}"
            )


def _fault_name(records: list[ServedRecord]) -> str:
    """Names the fault of an attempt's one record ("-": none, "?": not one record)."""
    if len(records) != 1:
        return "?"
    record = records[0]
    if record.fault is None:
        return "-"
    return f"outage:{record.fault}" if record.outage else str(record.fault)


async def _call(
    stack: LLMProvider, request: CompletionRequest, *, stream: bool
) -> CompletionResponse:
    """Completes, or streams and returns the StreamEnd's response."""
    if not stream:
        return await stack.complete(request)
    final: CompletionResponse | None = None
    async for event in stack.stream(request):
        if isinstance(event, StreamEnd):
            final = event.response
    if final is None:
        raise RuntimeError("stream ended without a StreamEnd")
    return final


async def run(
    args: argparse.Namespace, *, provider_factory: ProviderFactory = provider_from_config
) -> int:
    """Runs the main job; returns 0 when every call ended as expected, else 1.

    `provider_factory` builds each vendor's provider (default: the real one for the vendor);
    it is the seam through which tests prove that a broken provider fails the run.
    """
    import httpx
    from rich.console import Console
    from rich.progress import Progress

    from ashford_llm.testing.fake_server import FakeProviderServer, Outage
    from ashford_llm.testing.fake_server.evidence import tag_attempt

    if not 0 <= args.fault_rate <= 1 or args.concurrency < 1 or args.calls < 1:
        raise ValueError("--fault-rate must be within [0, 1], --calls and --concurrency >= 1")
    outages = () if args.outage == "none" else (Outage.parse(args.outage),)
    console = Console(width=None if os.isatty(1) else 120)
    inbox = [INBOX[i % len(INBOX)] for i in range(args.calls)]
    tracer_provider, meter_provider, spans = _telemetry(args)
    server = FakeProviderServer(
        api_key=DEMO_KEY,
        answer=classify_email,
        fault_rate=args.fault_rate,
        faults=FAULT_MIX,
        seed=args.seed,
        retry_after=0.2,
        slow_seconds=0.3,
        stall_seconds=1.0,
        chunk_delay=0.002,
        outages=outages,
    )
    circuits = MemoryCircuitBackend()  # one circuit per provider and model, for every stack
    started = time.perf_counter()
    http_client = httpx.AsyncClient(
        event_hooks={"request": [tag_attempt]}, limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT
    )
    async with server.run() as running, http_client:
        stacks = {
            vendor: build_stack(
                vendor,
                running,
                tracer_provider,
                meter_provider,
                http_client=http_client,
                circuits=circuits,
                provider_factory=provider_factory,
            )
            for vendor in MODELS
        }
        vendors = list(MODELS)
        gate = asyncio.Semaphore(args.concurrency)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("classifying e-mails", total=len(inbox))

            async def one(index: int, email: str, expected: str) -> CallResult:
                async with gate:
                    stack = stacks[vendors[index % len(vendors)]]
                    streamed = (index // len(vendors)) % 2 == 1  # each vendor does both
                    result = await classify(index, stack, email, expected, stream=streamed)
                progress.advance(task)
                return result

            results = await asyncio.gather(
                *(one(i, email, label) for i, (email, label) in enumerate(inbox, 1))
            )
        for stack in stacks.values():
            await stack.aclose()
    elapsed = time.perf_counter() - started
    tracer_provider.force_flush()
    meter_provider.force_flush()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    stats = server.stats
    judge(results, stats)
    print_report(console, results, stats, spans.get_finished_spans(), elapsed, outages)
    return 1 if any(result.unexpected for result in results) else 0
