"""`ashford-llm demo`: the main job, an e-mail classifier, on the built-in fake vendor server.

It starts the fake server on loopback with a seeded mix of faults, builds the recommended
stack (Tracing, Retry, RateLimit, Timeout, JsonValidation) over each of the three providers,
classifies a sample inbox into labels (JSON output decoded into a schema, some calls
streamed), and reports every call and a summary. A call that ends in anything but a correct
label or a typed error the injected faults explain makes the command exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING

from ashford_llm.builder import ClientBuilder
from ashford_llm.cli._demo_data import INBOX, SYSTEM_PROMPT, EmailLabel
from ashford_llm.cli._demo_report import CallResult, print_report
from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    AuthenticationError,
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    PermissionDeniedError,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.types import ChatMessage, CompletionRequest, CompletionResponse, StreamEnd

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ashford_llm.testing.fake_server import RunningServer

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
# Errors no injected fault can cause: seeing one means a wire format is wrong.
UNEXPECTED_ERRORS = (
    AuthenticationError,
    PermissionDeniedError,
    InvalidRequestError,
    ContentFilterError,
    EmptyResponseError,
)


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
) -> LLMProvider:
    """Builds the recommended stack over one vendor's provider, pointed at the fake server."""
    config = ModelConfig(vendor, MODELS[vendor], max_output_tokens=200)
    terminal = provider_from_config(config, api_key=DEMO_KEY, base_url=running.base_url(vendor))
    builder = (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider, meter_provider=meter_provider)
        .use(Retry, max_retries=4, base_delay=0.05, max_delay=2.0, budget=20.0)
        .use(RateLimit, requests_per_minute=1200, max_concurrency=4)
        .use(Timeout, total=5.0, first_token=2.0, idle=0.5)
        .use(JsonValidation, schema=EmailLabel)
    )
    return builder.build(terminal)


async def classify(
    index: int, stack: LLMProvider, email: str, expected: str, *, stream: bool
) -> CallResult:
    """Classifies one e-mail and judges the outcome."""
    request = CompletionRequest(
        [ChatMessage.system(SYSTEM_PROMPT), ChatMessage.user(email)], json_mode=True
    )
    started = time.perf_counter()
    result = CallResult(index=index, provider=stack.name, streamed=stream, expected=expected)
    try:
        response = await _call(stack, request, stream=stream)
    except LLMError as error:
        result.error = error
        result.attempts = error.attempts or 1
        result.unexpected = isinstance(error, UNEXPECTED_ERRORS)
    except Exception as error:  # an untyped failure is exactly what the demo must flag
        result.error = error
        result.unexpected = True
    else:
        parsed: EmailLabel = response.parsed
        result.response = response
        result.label = parsed.label
        result.attempts = response.attempts
        result.unexpected = parsed.label != expected
    result.latency_ms = (time.perf_counter() - started) * 1000.0
    return result


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


async def run(args: argparse.Namespace) -> int:
    """Runs the main job; returns 0 when every call ended as expected, else 1."""
    from rich.console import Console
    from rich.progress import Progress

    from ashford_llm.testing.fake_server import FakeProviderServer, classify_email

    if not 0 <= args.fault_rate <= 1 or args.concurrency < 1 or args.calls < 1:
        raise ValueError("--fault-rate must be within [0, 1], --calls and --concurrency >= 1")
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
    )
    started = time.perf_counter()
    async with server.run() as running:
        stacks = {
            vendor: build_stack(vendor, running, tracer_provider, meter_provider)
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
    print_report(console, results, server.stats, spans.get_finished_spans(), elapsed)
    return 1 if any(result.unexpected for result in results) else 0
