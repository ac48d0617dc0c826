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

    from ashford_llm.testing.fake_server import ServerStats
    from ashford_llm.testing.fake_server.evidence import CallTrace

_PROBLEMS_SHOWN = 40


@dataclass
class CallResult:
    """How one classification ended, and what no injected fault explains about it.

    `faults` names the fault the server injected into each attempt ("-": none), from its log;
    `problems` names each wrong label, untyped error, and failure or retry no fault explains.
    """

    index: int
    provider: str
    streamed: bool
    expected: str
    attachment: str | None = None
    response: CompletionResponse | None = None
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
    per_vendor = Counter(r.provider for r in attached if r.error is None and not r.unexpected)
    vendors = ", ".join(f"{vendor} {count}" for vendor, count in sorted(per_vendor.items()))
    return f"{len(attached)} e-mails carried a PNG or a PDF; classified: {vendors or 'none'}"


def print_report(
    console: Console,
    results: Sequence[CallResult],
    stats: ServerStats,
    spans: Sequence[ReadableSpan],
    elapsed_s: float,
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
            result.provider,
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
        ("retries", f"{retries}; {survived} calls survived a fault by retrying"),
        ("faults injected", f"{sum(stats.faults.values())} ({faults or 'none'})"),
        ("server requests", f"{stats.requests} = attempts made {sum(r.attempts for r in results)}"),
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
