"""The batch API's own values: the handle a job system stores, limits, status and polling."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "BatchHandle",
    "BatchLimits",
    "BatchState",
    "BatchStatus",
    "EndedAs",
    "Polling",
    "Vendor",
    "VendorBatch",
    "VendorBatchStatus",
]

Vendor = Literal["openai", "anthropic", "google"]
BatchState = Literal["in_progress", "cancelling", "ended"]
EndedAs = Literal["completed", "expired", "cancelled", "failed"]


class VendorBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One batch at the vendor: its id, the uploaded input file (if any) and its items' ids.

    `id` is `batch_...` (OpenAI), `msgbatch_...` (Anthropic) or `batches/...` (Gemini);
    `input_file` the OpenAI file id or the Gemini `files/...` name of an uploaded input.
    `custom_ids` lists the items sent, so every one of them gets an outcome even when the
    vendor reports nothing for it (an expired or cancelled batch).
    """

    id: str
    custom_ids: tuple[str, ...]
    input_file: str | None = None


class BatchHandle(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What `submit` returns: pure data, so a job system can store it and resume later.

    `provider` is the provider's name, `vendor` the batch API spoken, `model` the model
    every item used, `batches` the vendor batches the requests were split over, `count`
    the number of requests and `created_at` the submit time (Unix seconds). Store it with
    `msgspec.json.encode(handle)`, load it with `BatchHandle.from_json(data)`.
    """

    provider: str
    vendor: Vendor
    model: str
    batches: tuple[VendorBatch, ...]
    count: int
    created_at: float

    @classmethod
    def from_json(cls, data: bytes | str) -> BatchHandle:
        """Reads a handle stored as JSON; raises msgspec.ValidationError on a bad one."""
        return msgspec.json.decode(data, type=cls)

    def to_json(self) -> bytes:
        """Returns the handle as JSON."""
        return msgspec.json.encode(self)


class BatchLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How many requests and bytes one vendor batch may hold; more are split over several.

    `max_bytes` bounds the JSONL file (OpenAI), the create body (Anthropic) or the uploaded
    file (Gemini); `inline_bytes` (Gemini) the create body with inline requests, above
    which the requests go in an uploaded file.
    """

    max_requests: int
    max_bytes: int
    inline_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.max_bytes < 1:
            raise ValueError("max_requests and max_bytes must be >= 1")
        if self.inline_bytes is not None and self.inline_bytes < 1:
            raise ValueError("inline_bytes must be >= 1 or None")


class VendorBatchStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One vendor batch as last polled.

    `vendor_state` is the vendor's own word; `state` ours. `succeeded` and `failed` count
    finished items where the vendor reports them (Anthropic only once the batch ended);
    `failed` includes expired and cancelled items. Once ended, `ended_as` says how
    ("completed", "expired", "cancelled" or "failed": the vendor refused the whole batch,
    `error` saying why) and `result_files` where the results are (OpenAI's output and error
    files, Anthropic's results URL, Gemini's responses file; empty for inline results).
    """

    id: str
    vendor_state: str
    state: BatchState
    total: int
    succeeded: int = 0
    failed: int = 0
    ended_as: EndedAs | None = None
    error: str | None = None
    result_files: tuple[str, ...] = ()


class BatchStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The whole handle as last polled: ended once every vendor batch ended."""

    state: BatchState
    total: int
    succeeded: int
    failed: int
    batches: tuple[VendorBatchStatus, ...]

    @property
    def ended(self) -> bool:
        """True once every vendor batch ended (results can be collected)."""
        return self.state == "ended"


class Polling(msgspec.Struct, frozen=True, kw_only=True):
    """How `results` waits for batches to end: exponential backoff, capped.

    The first wait is `initial` seconds, each next one `multiplier` times longer, up to
    `maximum`. A retryable error while polling (a 429, a 5xx, a dropped connection) waits its
    `retry_after` (else the current delay) and polls again, up to `max_errors` in a row.
    `timeout` bounds the whole wait (None: no bound; vendors end batches within about 24 h).
    """

    initial: float = 5.0
    multiplier: float = 1.5
    maximum: float = 60.0
    max_errors: int = 5
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.multiplier < 1:
            raise ValueError("need 0 <= initial <= maximum and multiplier >= 1")
        if self.max_errors < 0:
            raise ValueError("max_errors must be >= 0")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be positive or None")
