"""Anthropic Message Batches: `POST /v1/messages/batches` with the requests inline.

Each item is `{"custom_id", "params"}`, `params` the Messages body the dialect encodes for a
live call (tools, thinking, images, documents, cache breakpoints included). Poll `GET
/v1/messages/batches/{id}` until `processing_status` is "ended", then read the JSONL at its
`results_url`: one line per item, `result.type` succeeded, errored (the usual error envelope),
canceled or expired. Limits: 100,000 requests or 256 MB per batch; ids are 1 to 64 letters,
digits, `_` or `-`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

import msgspec

from ashford_llm.batch._types import BatchLimits, EndedAs, VendorBatch, VendorBatchStatus
from ashford_llm.batch._vendor import (
    BatchTarget,
    Outcome,
    batch_status,
    decode_answer,
    not_run,
    same_origin,
)
from ashford_llm.errors import LLMError, ResponseDecodeError
from ashford_llm.providers._http import decode_json
from ashford_llm.providers.anthropic.errors import ErrorDetail, error_from_detail

__all__ = ["AnthropicBatches"]

_ENCODER = msgspec.json.Encoder()


class _Request(msgspec.Struct):
    custom_id: str
    params: msgspec.Raw


class _Counts(msgspec.Struct):
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class _Batch(msgspec.Struct):
    id: str
    processing_status: str
    request_counts: _Counts | None = None
    cancel_initiated_at: str | None = None
    results_url: str | None = None


class _Result(msgspec.Struct):
    type: str
    # Raw cannot be optional in a union; absent is an empty Raw.
    message: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    error: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class _Envelope(msgspec.Struct):
    error: ErrorDetail | None = None
    request_id: str | None = None


class _Line(msgspec.Struct):
    custom_id: str
    result: _Result


_BATCH = msgspec.json.Decoder(_Batch)


def _present(raw: msgspec.Raw) -> bool:
    """True when a raw field was sent and is not null."""
    return len(raw) > 0 and bytes(raw) != b"null"


_LINE = msgspec.json.Decoder(_Line)
_ENVELOPE = msgspec.json.Decoder(_Envelope)
# An errored item carries no HTTP status: the one its error type stands for picks the class
# as for a live call (a 429 whose message says the spend limit is reached is fatal, since a
# batch result has no retry-after to wait for).
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _status(batch: _Batch) -> VendorBatchStatus:
    """Turns a Message Batch object into our status."""
    counts = batch.request_counts or _Counts()
    vendor = batch.processing_status
    ended = vendor == "ended"
    ended_as: EndedAs | None = None
    if ended:
        ended_as = (
            "cancelled"
            if batch.cancel_initiated_at
            else "expired"
            if counts.expired
            else "completed"
        )
    return VendorBatchStatus(
        id=batch.id,
        vendor_state=vendor,
        state="ended" if ended else "cancelling" if vendor == "canceling" else "in_progress",
        total=counts.processing
        + counts.succeeded
        + counts.errored
        + counts.canceled
        + counts.expired,
        succeeded=counts.succeeded,
        failed=counts.errored + counts.canceled + counts.expired,
        ended_as=ended_as,
        result_files=(batch.results_url,) if ended and batch.results_url else (),
    )


def _item_error(body: bytes, provider: str) -> LLMError | None:
    """Reads an errored item's error envelope into its typed error."""
    envelope = decode_json(_ENVELOPE, body, provider=provider, what="a batch item error")
    if envelope.error is None:
        return None
    status = _TYPE_STATUS.get(envelope.error.type or "")
    error = error_from_detail(envelope.error, status, waits=False, request_id=envelope.request_id)
    error.status = None  # the vendor sent a type, not a status
    return error


class AnthropicBatches:
    """Anthropic Message Batches for one provider's base URL (without `/v1`)."""

    default_limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    custom_id = re.compile(r"[A-Za-z0-9_-]{1,64}")

    def __init__(self, base_url: str, *, limits: BatchLimits | None = None) -> None:
        self.limits = limits or self.default_limits
        self.base_url = base_url.rstrip("/")
        self._batches = f"{self.base_url}/v1/messages/batches"

    def item_size(self, custom_id: str, body: bytes) -> int:
        """Returns the bytes one request takes in the create body, its comma included."""
        return len(_ENCODER.encode(_Request(custom_id, msgspec.Raw(body)))) + 1

    async def create(
        self, target: BatchTarget, items: Sequence[tuple[str, bytes]], *, name: str
    ) -> VendorBatch:
        """Creates the batch with every request inline."""
        requests = [_Request(custom_id, msgspec.Raw(body)) for custom_id, body in items]
        response = await target.send(
            "POST", self._batches, content=_ENCODER.encode({"requests": requests})
        )
        batch = decode_json(
            _BATCH, response.content, provider=target.dialect.name, what="a message batch"
        )
        return VendorBatch(id=batch.id, custom_ids=tuple(i for i, _ in items))

    async def poll(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Reads `GET /v1/messages/batches/{id}`."""
        return await batch_status(target, "GET", f"{self._batches}/{batch.id}", _BATCH, _status)

    async def cancel(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Sends `POST /v1/messages/batches/{id}/cancel` (in-flight requests may still end)."""
        url = f"{self._batches}/{batch.id}/cancel"
        return await batch_status(target, "POST", url, _BATCH, _status)

    async def results(
        self,
        target: BatchTarget,
        batch: VendorBatch,
        status: VendorBatchStatus,
        created_at: float,
    ) -> AsyncIterator[Outcome]:
        """Reads the results JSONL, one outcome per line."""
        for url in status.result_files:
            url = same_origin(url, self.base_url, provider=target.dialect.name)
            response = await target.send("GET", url, headers={"Accept": "application/binary"})
            for raw in response.content.splitlines():
                if raw.strip():
                    yield self._outcome(target, raw, created_at)

    @staticmethod
    def _outcome(target: BatchTarget, raw: bytes, created_at: float) -> Outcome:
        """Reads one result line into its outcome."""
        dialect = target.dialect
        line = decode_json(_LINE, raw, provider=dialect.name, what="a batch result line")
        result = line.result
        custom_id = line.custom_id
        if result.type == "succeeded" and _present(result.message):
            return custom_id, decode_answer(
                dialect, bytes(result.message), created_at=created_at, request_id=None
            )
        error: LLMError | None
        if result.type in ("canceled", "expired"):
            reason = "cancelled" if result.type == "canceled" else "expired"
            error = not_run(dialect.name, reason, custom_id)
        elif result.type == "errored" and _present(result.error):
            error = _item_error(bytes(result.error), dialect.name)
        else:
            error = None
        if error is None:
            error = ResponseDecodeError(
                f"unreadable batch result of type {result.type!r} for {custom_id!r}"
            )
        error.provider = error.provider or dialect.name
        return custom_id, error
