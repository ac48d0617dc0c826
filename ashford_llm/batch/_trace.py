"""The batch API's spans: one per submit, poll, collection and cancel, with item counts."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from ashford_llm.batch._types import BatchState, BatchStatus, VendorBatchStatus
from ashford_llm.batch._vendor import BatchTarget
from ashford_llm.middleware import _semconv as sc

__all__ = ["record", "span", "summary"]


def span(
    provider: BatchTarget, operation: str, tracer_provider: trace.TracerProvider | None
) -> Any:
    """Starts a CLIENT span named `{operation} {model}` with the GenAI provider attributes."""
    tracer = trace.get_tracer(sc.SCOPE_NAME, tracer_provider=tracer_provider)
    dialect = provider.dialect
    return tracer.start_as_current_span(
        f"{operation} {dialect.model}",
        kind=SpanKind.CLIENT,
        attributes={
            sc.OPERATION_NAME: operation,
            sc.PROVIDER_NAME: dialect.otel_provider_name,
            sc.REQUEST_MODEL: dialect.model,
        },
    )


def summary(parts: list[VendorBatchStatus], total: int) -> BatchStatus:
    """Combines the vendor batches' states into the handle's."""
    states = {part.state for part in parts}
    state: BatchState = (
        "ended"
        if states == {"ended"}
        else "cancelling"
        if "cancelling" in states
        else "in_progress"
    )
    return BatchStatus(
        state=state,
        total=total,
        succeeded=sum(part.succeeded for part in parts),
        failed=sum(part.failed for part in parts),
        batches=tuple(parts),
    )


def record(span: Span, summary: BatchStatus) -> None:
    """Puts the state and counts on a poll span."""
    span.set_attribute(sc.BATCH_STATE, summary.state)
    span.set_attribute(sc.BATCH_REQUESTS, summary.total)
    span.set_attribute(sc.BATCH_SUCCEEDED, summary.succeeded)
    span.set_attribute(sc.BATCH_FAILED, summary.failed)
