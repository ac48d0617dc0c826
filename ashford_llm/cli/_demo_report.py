"""The demo's report: one table row per call and a summary, rendered with rich."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ashford_llm.types import CompletionResponse

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from rich.console import Console

    from ashford_llm.testing.fake_server import Outage, ServerStats
    from ashford_llm.testing.fake_server.evidence import CallTrace

_PROBLEMS_SHOWN = 40


@dataclass
class CallResult:
    """How one classification ended, and what no injected fault explains about it.

    `faults` names the fault the server injected into each attempt ("-": none, "outage:..."
    for an outage's, "circuit_open" for an attempt an open circuit refused), from its log;
    `answered_by` is the provider that answered (another than `provider` after a fallback);
    `problems` names each wrong label, untyped error, and failure or retry no fault explains.
    """

    index: int
    provider: str
    streamed: bool
    expected: str
    attachment: str | None = None
    response: CompletionResponse | None = None
    answered_by: str | None = None
    label: str | None = None
    error: BaseException | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    trace: CallTrace | None = None
    faults: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def unexpected(self) -> bool:
        """True when anything about the call is wrong or unexplained."""
        return bool(self.problems)

    @property
    def fell_back(self) -> bool:
        """True when a fallback provider answered."""
        return self.answered_by is not None and self.answered_by != self.provider

    @property
    def outcome(self) -> str:
        """A short word for the table: ok, or the error's class name."""
        return "ok" if self.error is None else type(self.error).__name__


def percentile(values: Sequence[float], share: float) -> float:
    """Returns the nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


_ATTACHED = {"image/png": "png", "application/pdf": "pdf"}


def _attachments(results: Sequence[CallResult]) -> str:
    """Says how many e-mails with an attachment each vendor classified correctly."""
    attached = [r for r in results if r.attachment is not None]
    per_vendor = Counter(
        r.answered_by or r.provider for r in attached if r.error is None and not r.unexpected
    )
    vendors = ", ".join(f"{vendor} {count}" for vendor, count in sorted(per_vendor.items()))
    return f"{len(attached)} e-mails carried a PNG or a PDF; classified: {vendors or 'none'}"


def _fallbacks(results: Sequence[CallResult], spans: Sequence[ReadableSpan]) -> str:
    """Says how many calls a fallback answered, from which vendor to which, and (from the
    spans' `ashford.fallback` events) which errors made Fallback move on."""
    moved = Counter(f"{r.provider}→{r.answered_by}" for r in results if r.fell_back)
    causes = Counter(
        str((event.attributes or {}).get("error.type"))
        for span in spans
        for event in span.events
        if event.name == "ashford.fallback"
    )
    pairs = ", ".join(f"{pair} {count}" for pair, count in sorted(moved.items())) or "none"
    why = ", ".join(f"{name} {count}" for name, count in sorted(causes.items())) or "none"
    return (
        f"{sum(moved.values())} calls answered by another vendor ({pairs}); "
        f"{sum(causes.values())} switches, after {why}"
    )


def _circuits(spans: Sequence[ReadableSpan]) -> str:
    """Lists each provider's circuit transitions in order, from the spans' events."""
    moves: dict[str, list[tuple[int, str]]] = {}
    for span in spans:
        for event in span.events:
            if event.name == "ashford.circuit":
                attributes = event.attributes or {}
                provider = str(attributes.get("gen_ai.provider.name"))
                state = str(attributes.get("ashford.circuit.state"))
                moves.setdefault(provider, []).append((event.timestamp, state))
    if not moves:
        return "every circuit stayed closed"
    return "; ".join(
        f"{provider} {' → '.join(state for _, state in sorted(states))}"
        for provider, states in sorted(moves.items())
    )


def _outage(outages: Sequence[Outage], stats: ServerStats, results: Sequence[CallResult]) -> str:
    """Says which vendor was down, how many requests it failed and how the calls ended."""
    if not outages:
        return "none"
    hit = [r for r in results if r.trace is not None and "outage:" in " ".join(r.faults)]
    absorbed = sum(1 for r in hit if r.error is None and not r.unexpected)
    described = ", ".join(
        f"{outage.vendor} {outage.fault} for {outage.seconds:g} s from {outage.after:g} s"
        for outage in outages
    )
    failed = sum(stats.outage_failures.values())
    return (
        f"{described}: {failed} requests failed, in {len(hit)} calls ({absorbed} of them "
        "answered); later calls found its circuit open"
        if failed
        else f"{described}: no request met it"
    )


def _answered_by(successes: Sequence[CallResult]) -> str:
    """Counts the answers per provider (the cost per provider will join this line)."""
    answers = Counter(r.answered_by or r.provider for r in successes)
    return ", ".join(f"{provider} {count}" for provider, count in sorted(answers.items()))


def _requests(stats: ServerStats, results: Sequence[CallResult]) -> str:
    """Checks the server's request count against the attempts that sent a request."""
    sent = sum(r.trace.sent if r.trace is not None else r.attempts for r in results)
    refused = sum(r.trace.refused for r in results if r.trace is not None)
    return f"{stats.requests} = attempts sent {sent} (and {refused} refused by an open circuit)"


def print_report(
    console: Console,
    results: Sequence[CallResult],
    stats: ServerStats,
    spans: Sequence[ReadableSpan],
    elapsed_s: float,
    outages: Sequence[Outage] = (),
) -> None:
    """Prints the per-call table and the summary."""
    from rich.table import Table

    table = Table(title="ashford-llm demo: e-mail classification through the recommended stack")
    columns = ("#", "provider", "mode", "attached", "outcome", "attempts", "faults", "latency ms")
    for column in (*columns, "tokens", "label"):
        table.add_column(
            column,
            justify="right" if column in ("#", "attempts", "latency ms") else "left",
            no_wrap=column in ("outcome", "label"),
        )
    for result in results:
        tokens = (
            f"{result.response.input_tokens}/{result.response.output_tokens}"
            if result.response
            else "-"
        )
        outcome = result.outcome
        style = "green" if result.error is None else "yellow"
        if result.unexpected:
            style = "bold red"
            outcome += " (unexpected)"
        label = result.label or "-"
        if result.label and result.label != result.expected:
            label += f" (expected {result.expected})"
        table.add_row(
            str(result.index),
            f"{result.provider}→{result.answered_by}" if result.fell_back else result.provider,
            "stream" if result.streamed else "complete",
            _ATTACHED.get(result.attachment or "", "-"),
            f"[{style}]{outcome}[/]",
            str(result.attempts),
            ", ".join(result.faults) or "?",
            f"{result.latency_ms:.0f}",
            tokens,
            label,
        )
    console.print(table)
    successes = [r for r in results if r.error is None and not r.unexpected]
    typed_failures = [r for r in results if r.error is not None and not r.unexpected]
    unexpected = [r for r in results if r.unexpected]
    latencies = [r.latency_ms for r in results]
    retries = sum(r.attempts - 1 for r in results)
    survived = sum(1 for r in successes if r.attempts > 1)
    tokens_in = sum(r.response.input_tokens for r in successes if r.response)
    tokens_out = sum(r.response.output_tokens for r in successes if r.response)
    retry_events = sum(
        1 for span in spans for event in span.events if event.name == "ashford.retry"
    )
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.faults.items()))
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for name, value in (
        ("calls", f"{len(results)} in {elapsed_s:.1f} s"),
        ("succeeded", f"{len(successes)} (the right label, every failed attempt explained)"),
        (
            "typed failures",
            f"{len(typed_failures)} (each matched to the fault injected on its attempt)",
        ),
        ("unexpected", f"{len(unexpected)}"),
        (
            "retries",
            f"{retries} attempts after the first (retries and fallbacks); "
            f"{survived} calls survived a fault",
        ),
        ("faults injected", f"{sum(stats.faults.values())} ({faults or 'none'})"),
        ("fallbacks", _fallbacks(results, spans)),
        ("circuits", _circuits(spans)),
        ("outage", _outage(outages, stats, results)),
        ("answered by", _answered_by(successes)),
        ("server requests", _requests(stats, results)),
        (
            "latency",
            f"p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms",
        ),
        ("attachments", _attachments(results)),
        ("tokens", f"{tokens_in} in, {tokens_out} out"),
        ("spans", f"{len(spans)} 'chat' spans, {retry_events} retry events"),
    ):
        summary.add_row(name, value)
    console.print(summary)
    problems = [problem for r in unexpected for problem in r.problems]
    for problem in problems[:_PROBLEMS_SHOWN]:
        console.print(f"[bold red]unexplained[/]: {problem}", highlight=False)
    if len(problems) > _PROBLEMS_SHOWN:
        console.print(f"... and {len(problems) - _PROBLEMS_SHOWN} more")
    verdict = (
        "[bold red]FAILED[/]: some calls ended wrongly or in errors no injected fault explains"
        if unexpected
        else (
            "[bold green]OK[/]: every call succeeded or ended in a typed error, and every "
            "failure and retry matched the fault injected on its attempt"
        )
    )
    console.print(verdict)
