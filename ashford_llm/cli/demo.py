"""`ashford-llm demo`: the main job, an e-mail classifier, on the built-in fake vendor server.

It starts the fake server on loopback with a seeded mix of faults and an outage of one
vendor part-way through, builds the recommended stack (Tracing, Fallback, Retry,
CircuitBreaker, RateLimit, Timeout, JsonValidation) with each of the three providers first and
the other two as fallbacks (or each provider `--provider` names, with the others named as
fallbacks; "vertex" runs Gemini and Claude on Vertex AI with a fixed access token, "bedrock"
signs with SigV4 and static test keys), classifies a sample inbox into labels (JSON output
decoded into a schema, some calls streamed), and reports every call and a summary. During the
outage the vendor's circuit opens (one circuit per provider and model, shared by every
stack), so its e-mails are answered by a fallback vendor at once instead of after a round of
retries.

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    Cost,
    CostLedger,
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
# `--provider vertex`: both publishers, through the fake server's Vertex paths.
VERTEX_MODELS = ("gemini-2.5-flash", "claude-sonnet-4-5@20250929")
VERTEX_OPTIONS = {"project": "ashford-demo", "location": "us-central1"}
# More providers `--provider` can pick: Azure OpenAI (its own routes on the fake server, the
# model being the deployment), an OpenAI-compatible profile on the OpenAI routes, and AWS
# Bedrock (the `bedrock` extra).
MORE_MODELS = {
    "azure": "gpt-4o-mini",
    "groq": "llama-3.3-70b-versatile",
    "bedrock": "anthropic.claude-sonnet-4-5-20250929-v1:0",
}
# One vendor fails every request for a while, part-way through the run (VENDOR:SECONDS:AFTER).
DEFAULT_OUTAGE = "anthropic:1:0.2"
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
        "--provider",
        action="append",
        choices=[*MODELS, *MORE_MODELS, "vertex"],
        help="run this provider (repeatable; default: openai, anthropic and google)",
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
    parser.add_argument("--batch", action="store_true", help="classify through the batch APIs")
    from ashford_llm.cli.demo_workers import add_arguments

    add_arguments(parser)


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
    circuits: MemoryCircuitBackend,
    ledger: CostLedger,
    *,
    http_client: httpx.AsyncClient,
    provider_factory: ProviderFactory = provider_from_config,
    model: str | None = None,
    fallbacks: Sequence[tuple[str, str | None]] | None = None,
) -> LLMProvider:
    """Builds the recommended stack with `vendor` first and `fallbacks` after it.

    `fallbacks` are (provider, model) pairs, by default the other two of the three vendors.
    Each provider gets its own Retry, CircuitBreaker, RateLimit, Timeout and JsonValidation
    (the layers after `fallback`); the breakers keep their circuits in `circuits`, one per
    provider and model, so every stack sees one vendor's outage. `provider_factory(config,
    api_key=, base_url=, http_client=)` makes each provider; a test passes a deliberately
    broken one to prove the evidence check fails the run; vendors other than the three take
    their own options (`provider_options`).
    """
    from ashford_llm.testing.fake_server.evidence import note_fallback, note_retry

    def terminal(name: str, model: str | None) -> LLMProvider:
        config = ModelConfig(name, model or (MODELS | MORE_MODELS)[name], max_output_tokens=200)
        return provider_factory(config, http_client=http_client, **provider_options(name, running))

    if fallbacks is None:
        fallbacks = [(name, None) for name in MODELS if name != vendor]
    builder = ClientBuilder().use(
        Tracing, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    if fallbacks:
        others = [terminal(name, other_model) for name, other_model in fallbacks]
        builder = builder.fallback(*others, on_fallback=note_fallback)
    builder = (
        builder.use(
            Retry, max_retries=4, base_delay=0.05, max_delay=2.0, budget=20.0, on_retry=note_retry
        )
        .use(
            CircuitBreaker,
            # Opens when 90% of at least 6 attempts within 0.5 s failed: an outage does that,
            # the fault mix's ~30% does not, however fast the calls come.
            failure_ratio=0.9,
            minimum_calls=6,
            window=0.5,
            cooldown=0.3,
            backend=circuits,
            meter_provider=meter_provider,
        )
        .use(RateLimit, requests_per_minute=1200, max_concurrency=4)
        .use(Timeout, total=5.0, first_token=2.0, idle=0.5)
        .use(JsonValidation, schema=EmailLabel)
        .use(Cost, ledger=ledger, meter_provider=meter_provider)  # every billed answer priced
    )
    return builder.build(terminal(vendor, model))


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


def _fault_name(records: list[ServedRecord]) -> str:
    """Names the fault of an attempt's one record ("-": none, "?": not one record)."""
    if len(records) != 1:
        return "?"
    record = records[0]
    if record.fault is None:
        return "-"
    return f"outage:{record.fault}" if record.outage else str(record.fault)


def provider_options(vendor: str, running: RunningServer) -> dict[str, Any]:
    """Points a provider at the fake server, with the credentials the server checks.

    Vertex sends a fixed access token with its project and location; Azure takes the server
    as its endpoint; a profile uses the OpenAI routes; Bedrock signs with SigV4 using the
    server's static test keys. The others send the demo key.
    """
    if vendor == "vertex":
        return {"access_token": DEMO_KEY, "base_url": running.base_url(vendor), **VERTEX_OPTIONS}
    if vendor == "azure":
        return {"api_key": DEMO_KEY, "endpoint": running.base_url(vendor)}
    if vendor == "bedrock":
        from ashford_llm.providers.bedrock.auth import require_botocore
        from ashford_llm.testing.fake_server.bedrock import (
            TEST_ACCESS_KEY,
            TEST_REGION,
            TEST_SECRET_KEY,
        )

        credentials = require_botocore().credentials.Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY)
        return {
            "aws_credentials": credentials,
            "region": TEST_REGION,
            "base_url": running.base_url(vendor),
        }
    routes = "openai" if vendor in MORE_MODELS else vendor
    return {"api_key": DEMO_KEY, "base_url": running.base_url(routes)}


def _targets(providers: list[str] | None) -> list[tuple[str, str | None]]:
    """Returns the (provider, model) pairs to run: the named providers, else the three."""
    targets: list[tuple[str, str | None]] = []
    for name in dict.fromkeys(providers or MODELS):
        if name == "vertex":
            targets += [("vertex", model) for model in VERTEX_MODELS]
        else:
            targets.append((name, None))
    return targets


async def run(
    args: argparse.Namespace, *, provider_factory: ProviderFactory = provider_from_config
) -> int:
    """Runs the main job; returns 0 when every call ended as expected, else 1.

    `provider_factory` builds each vendor's provider (default: the real one for the vendor);
    it is the seam through which tests prove that a broken provider fails the run.
    """
    if getattr(args, "workers", None):
        from ashford_llm.cli.demo_workers import run_workers

        return await run_workers(args)
    if getattr(args, "batch", False):
        from ashford_llm.cli.demo_batch import run_batch

        return await run_batch(args)
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
    ledger = CostLedger()  # what the vendors billed, per provider, over every stack
    started = time.perf_counter()
    http_client = httpx.AsyncClient(
        event_hooks={"request": [tag_attempt]}, limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT
    )
    targets = _targets(getattr(args, "provider", None))
    async with server.run() as running, http_client:
        stacks = [
            build_stack(
                vendor,
                running,
                tracer_provider,
                meter_provider,
                circuits,
                ledger,
                http_client=http_client,
                provider_factory=provider_factory,
                model=model,
                fallbacks=[target for target in targets if target != (vendor, model)],
            )
            for vendor, model in targets
        ]
        gate = asyncio.Semaphore(args.concurrency)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("classifying e-mails", total=len(inbox))

            async def one(index: int, email: str, expected: str) -> CallResult:
                async with gate:
                    stack = stacks[index % len(stacks)]
                    streamed = (index // len(stacks)) % 2 == 1  # each vendor does both
                    result = await classify(index, stack, email, expected, stream=streamed)
                progress.advance(task)
                return result

            results = await asyncio.gather(
                *(one(i, email, label) for i, (email, label) in enumerate(inbox, 1))
            )
        for stack in stacks:
            await stack.aclose()
    elapsed = time.perf_counter() - started
    tracer_provider.force_flush()
    meter_provider.force_flush()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    stats = server.stats
    judge(results, stats)
    print_report(console, results, stats, spans.get_finished_spans(), elapsed, outages, ledger)
    return 1 if any(result.unexpected for result in results) else 0
