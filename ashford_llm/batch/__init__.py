"""Batch APIs of OpenAI, Anthropic and Gemini: submit, poll, collect, resume, cancel.

The vendors run a batch within about 24 hours at half the per-token price. `submit` encodes
each request with the provider's own dialect (exactly the body a live call sends), checks the
ids, splits the requests over as many vendor batches as the vendor's count and size limits
need, creates them and returns a `BatchHandle`: pure data a job system stores, so any later
process resumes with `status`, `results` or `cancel` given the handle and a provider for the
same vendor and model. `results` polls with backoff and yields `(custom_id, response or
error)` for every item as its vendor batch ends; an error is typed retryable or fatal from
the vendor's per-item error, and expired or cancelled items are the retryable
`BatchItemNotRunError`. Answers carry `batch=True` (billed at the batch discount).

Each call is traced as a span (`batch_submit`, `batch_poll`, `batch_collect`) with the item
counts. Vendor details: `openai`, `anthropic`, `gemini` in this package.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace

from ashford_llm.batch import _trace
from ashford_llm.batch._prepare import encoded, resumed, split, vendor_for
from ashford_llm.batch._types import (
    BatchHandle,
    BatchLimits,
    BatchStatus,
    Polling,
    VendorBatch,
    VendorBatchStatus,
)
from ashford_llm.batch._vendor import BatchTarget, BatchVendor, Outcome, not_run
from ashford_llm.errors import (
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ResponseDecodeError,
    RetryableError,
)
from ashford_llm.middleware import _semconv as sc
from ashford_llm.types import CompletionRequest, CompletionResponse

__all__ = [
    "BatchHandle",
    "BatchLimits",
    "BatchStatus",
    "BatchTarget",
    "Outcome",
    "Polling",
    "VendorBatch",
    "VendorBatchStatus",
    "cancel",
    "results",
    "status",
    "submit",
]

Sleep = Callable[[float], Awaitable[Any]]


async def submit(
    provider: BatchTarget,
    requests: Mapping[str, CompletionRequest],
    *,
    name: str = "ashford",
    limits: BatchLimits | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> BatchHandle:
    """Validates, encodes and submits the requests; returns the handle to store.

    Args:
        provider: a vendor provider (OpenAIProvider, AnthropicProvider, GoogleProvider):
            its dialect encodes each request and its client and key send the batch.
        requests: custom id -> request. Ids must suit the vendor (Anthropic: 1 to 64
            letters, digits, `_`, `-`); every request uses the provider's model.
        name: a label for the vendor batches (metadata, display name, file name).
        limits: per-batch count and size limits; None uses the vendor's documented ones.
        tracer_provider: where the `batch_submit` span goes; None uses the global one.

    Raises:
        InvalidRequestError: a bad id or a request the vendor would refuse, before anything
            is sent; or the vendor's typed error for the upload or create call. When a later
            vendor batch fails to be created, the ones already created are cancelled first.
    """
    vendor_name, vendor = vendor_for(provider, limits)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    created_at = time.time()
    with _trace.span(provider, sc.OPERATION_BATCH_SUBMIT, tracer_provider) as span:
        items, sizes = encoded(provider, vendor, requests)
        chunks = split(vendor, items, sizes)
        span.set_attribute(sc.BATCH_REQUESTS, len(items))
        created: list[VendorBatch] = []
        try:
            for index, chunk in enumerate(chunks, 1):
                label = name if len(chunks) == 1 else f"{name}-{index}of{len(chunks)}"
                created.append(await vendor.create(provider, chunk, name=label))
        except Exception as error:
            for batch in created:
                try:
                    await vendor.cancel(provider, batch)
                except LLMError as cancel_error:
                    error.add_note(f"cancelling {batch.id} after the failure: {cancel_error}")
            raise
        span.set_attribute(sc.BATCH_IDS, [batch.id for batch in created])
        return BatchHandle(
            provider=provider.dialect.name,
            vendor=vendor_name,
            model=provider.dialect.model,
            batches=tuple(created),
            count=len(items),
            created_at=created_at,
        )


async def status(
    handle: BatchHandle,
    *,
    provider: BatchTarget,
    tracer_provider: trace.TracerProvider | None = None,
) -> BatchStatus:
    """Polls every vendor batch of the handle once (a `batch_poll` span)."""
    vendor = resumed(handle, provider)
    with _trace.span(provider, sc.OPERATION_BATCH_POLL, tracer_provider) as span:
        parts = [await vendor.poll(provider, batch) for batch in handle.batches]
        summary = _trace.summary(parts, handle.count)
        _trace.record(span, summary)
        return summary


async def cancel(
    handle: BatchHandle,
    *,
    provider: BatchTarget,
    tracer_provider: trace.TracerProvider | None = None,
) -> BatchStatus:
    """Asks the vendor to cancel every vendor batch that has not ended; returns the state.

    Items already run keep their answers; the others come back from `results` as
    BatchItemNotRunError ("cancelled").
    """
    vendor = resumed(handle, provider)
    with _trace.span(provider, "batch_cancel", tracer_provider) as span:
        parts: list[VendorBatchStatus] = []
        for batch in handle.batches:
            current = await vendor.poll(provider, batch)
            parts.append(
                current if current.state == "ended" else await vendor.cancel(provider, batch)
            )
        summary = _trace.summary(parts, handle.count)
        _trace.record(span, summary)
        return summary


def _missing(provider: str, custom_id: str, part: VendorBatchStatus) -> LLMError:
    """Returns the error of an item the vendor reported nothing for, by how its batch ended."""
    if part.ended_as in ("expired", "cancelled"):
        return not_run(provider, part.ended_as, custom_id)
    if part.ended_as == "failed":
        return InvalidRequestError(
            f"the vendor failed batch {part.id}: {part.error or 'no reason given'}",
            provider=provider,
        )
    return ResponseDecodeError(
        f"batch {part.id} ended without a result for {custom_id!r}", provider=provider
    )


async def _poll_with_retries(
    vendor: BatchVendor,
    provider: BatchTarget,
    batch: VendorBatch,
    polling: Polling,
    delay: float,
    sleep: Sleep,
) -> VendorBatchStatus:
    """Polls once, waiting out retryable errors (their retry_after first) up to max_errors."""
    errors = 0
    while True:
        try:
            return await vendor.poll(provider, batch)
        except RetryableError as error:
            errors += 1
            if errors > polling.max_errors:
                raise
            await sleep(error.retry_after if error.retry_after is not None else delay)


async def results(
    handle: BatchHandle,
    *,
    provider: BatchTarget,
    polling: Polling | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    tracer_provider: trace.TracerProvider | None = None,
) -> AsyncIterator[Outcome]:
    """Yields `(custom_id, CompletionResponse | LLMError)` for every item, as batches end.

    The vendors publish results per vendor batch once it ends, so items arrive a batch at a
    time. Every submitted id gets exactly one outcome: one the vendor did not report is a
    BatchItemNotRunError when its batch expired or was cancelled. Each polling round is a
    `batch_poll` span, each batch's collection a `batch_collect` span with its counts.

    Args:
        handle: what `submit` returned (possibly loaded from storage by another process).
        provider: a provider for the handle's vendor and model.
        polling: backoff between polls; None uses `Polling()`.
        sleep: the wait between polls; injectable for tests.
        clock: a monotonic clock, for `polling.timeout`.
        tracer_provider: where the spans go; None uses the global one.

    Raises:
        LLMTimeoutError: `polling.timeout` passed before every batch ended.
        LLMError: polling failed with a fatal error, or more retryable ones in a row than
            `polling.max_errors`.
    """
    vendor = resumed(handle, provider)
    polling = polling or Polling()
    started = clock()
    delay = polling.initial
    pending = list(handle.batches)
    name = provider.dialect.name
    while pending:
        with _trace.span(provider, sc.OPERATION_BATCH_POLL, tracer_provider) as span:
            ended: list[tuple[VendorBatch, VendorBatchStatus]] = []
            parts = []
            for batch in pending:
                part = await _poll_with_retries(vendor, provider, batch, polling, delay, sleep)
                parts.append(part)
                if part.state == "ended":
                    ended.append((batch, part))
            _trace.record(span, _trace.summary(parts, sum(len(b.custom_ids) for b in pending)))
        for batch, part in ended:
            pending.remove(batch)
            with _trace.span(provider, sc.OPERATION_BATCH_COLLECT, tracer_provider) as span:
                span.set_attribute(sc.BATCH_IDS, [batch.id])
                expected = set(batch.custom_ids)
                succeeded = failed = 0
                async for custom_id, outcome in vendor.results(
                    provider, batch, part, handle.created_at
                ):
                    expected.discard(custom_id)
                    if isinstance(outcome, CompletionResponse):
                        succeeded += 1
                    else:
                        failed += 1
                    yield custom_id, outcome
                for custom_id in batch.custom_ids:
                    if custom_id in expected:
                        failed += 1
                        yield custom_id, _missing(name, custom_id, part)
                span.set_attribute(sc.BATCH_REQUESTS, len(batch.custom_ids))
                span.set_attribute(sc.BATCH_SUCCEEDED, succeeded)
                span.set_attribute(sc.BATCH_FAILED, failed)
                span.set_attribute(sc.BATCH_STATE, part.ended_as or part.vendor_state)
        if not pending:
            return
        if polling.timeout is not None and clock() - started + delay > polling.timeout:
            raise LLMTimeoutError(
                f"{len(pending)} vendor batches had not ended after {polling.timeout} s "
                "of polling; the handle stays valid, collect again later",
                provider=name,
            )
        await sleep(delay)
        delay = min(delay * polling.multiplier, polling.maximum)
