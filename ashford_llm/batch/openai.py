"""The OpenAI Batch API: a JSONL file through the Files API, a batch over Chat Completions.

Submit uploads the requests as one JSONL line each (`{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}`, the body the dialect encodes for a live call) with `POST
/files` (`purpose=batch`), then `POST /batches` with `completion_window` "24h". Poll `GET
/batches/{id}`; once ended, the output file holds the answers and the error file the failed
items (an HTTP error in `response`, or `error.code` such as `batch_expired`), both read with
`GET /files/{id}/content`. Limits: 50,000 requests and 200 MB per file.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

import httpx
import msgspec

from ashford_llm.batch._types import (
    BatchLimits,
    BatchState,
    EndedAs,
    VendorBatch,
    VendorBatchStatus,
)
from ashford_llm.batch._vendor import (
    BatchTarget,
    Outcome,
    batch_status,
    decode_answer,
    not_run,
)
from ashford_llm.errors import LLMError, ResponseDecodeError
from ashford_llm.providers._http import decode_json
from ashford_llm.providers.openai.errors import ErrorBody, error_from_object

__all__ = ["OpenAIBatches"]

ENDPOINT = "/v1/chat/completions"
_ENDED: dict[str, EndedAs] = {
    "completed": "completed",
    "expired": "expired",
    "cancelled": "cancelled",
    "failed": "failed",
}
_NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "cancelled"}
_ENCODER = msgspec.json.Encoder()


class _Line(msgspec.Struct):
    custom_id: str
    method: str
    url: str
    body: msgspec.Raw


class _FileObject(msgspec.Struct):
    id: str


class _Counts(msgspec.Struct):
    total: int = 0
    completed: int = 0
    failed: int = 0


class _BatchError(msgspec.Struct):
    message: str | None = None
    line: int | None = None


class _BatchErrors(msgspec.Struct):
    data: list[_BatchError] = []


class _Batch(msgspec.Struct):
    id: str
    status: str
    request_counts: _Counts | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: _BatchErrors | None = None


class _Response(msgspec.Struct):
    status_code: int
    body: msgspec.Raw
    request_id: str | None = None


class _OutputLine(msgspec.Struct):
    custom_id: str
    response: _Response | None = None
    error: ErrorBody | None = None


_FILE = msgspec.json.Decoder(_FileObject)
_BATCH = msgspec.json.Decoder(_Batch)
_OUTPUT = msgspec.json.Decoder(_OutputLine)


def _status(batch: _Batch) -> VendorBatchStatus:
    """Turns a batch object into our status."""
    counts = batch.request_counts or _Counts()
    ended_as = _ENDED.get(batch.status)
    state: BatchState = (
        "ended" if ended_as else "cancelling" if batch.status == "cancelling" else "in_progress"
    )
    errors = batch.errors.data if batch.errors else []
    error = "; ".join(
        f"line {e.line}: {e.message}" if e.line is not None else str(e.message) for e in errors
    )
    return VendorBatchStatus(
        id=batch.id,
        vendor_state=batch.status,
        state=state,
        total=counts.total,
        succeeded=counts.completed,
        failed=counts.failed,
        ended_as=ended_as,
        error=error or None,
        result_files=tuple(f for f in (batch.output_file_id, batch.error_file_id) if f),
    )


class OpenAIBatches:
    """The OpenAI Batch API for one provider's base URL (including `/v1`)."""

    default_limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
    # OpenAI documents no pattern for custom_id; a bounded, printable one keeps files sane.
    custom_id = re.compile(r"[\x21-\x7e]{1,512}")

    def __init__(self, base_url: str, *, limits: BatchLimits | None = None) -> None:
        self.limits = limits or self.default_limits
        self.base_url = base_url.rstrip("/")

    def line(self, custom_id: str, body: bytes) -> bytes:
        """Returns one JSONL input line (without its newline)."""
        line = _Line(custom_id=custom_id, method="POST", url=ENDPOINT, body=msgspec.Raw(body))
        return _ENCODER.encode(line)

    def item_size(self, custom_id: str, body: bytes) -> int:
        """Returns the bytes one line takes in the file, its newline included."""
        return len(self.line(custom_id, body)) + 1

    async def create(
        self, target: BatchTarget, items: Sequence[tuple[str, bytes]], *, name: str
    ) -> VendorBatch:
        """Uploads the JSONL file, then creates the batch over it."""
        content = b"".join(self.line(custom_id, body) + b"\n" for custom_id, body in items)
        provider = target.dialect.name
        uploaded = await target.send(
            "POST",
            f"{self.base_url}/files",
            data={"purpose": "batch"},
            files={"file": (f"{name}.jsonl", content, "application/jsonl")},
        )
        file = decode_json(_FILE, uploaded.content, provider=provider, what="a file object")
        body = {
            "input_file_id": file.id,
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": {"ashford_batch": name},
        }
        created = await target.send(
            "POST", f"{self.base_url}/batches", content=_ENCODER.encode(body)
        )
        batch = decode_json(_BATCH, created.content, provider=provider, what="a batch object")
        return VendorBatch(id=batch.id, custom_ids=tuple(i for i, _ in items), input_file=file.id)

    async def poll(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Reads `GET /batches/{id}`."""
        url = f"{self.base_url}/batches/{batch.id}"
        return await batch_status(target, "GET", url, _BATCH, _status)

    async def cancel(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Sends `POST /batches/{id}/cancel`."""
        url = f"{self.base_url}/batches/{batch.id}/cancel"
        return await batch_status(target, "POST", url, _BATCH, _status)

    async def results(
        self,
        target: BatchTarget,
        batch: VendorBatch,
        status: VendorBatchStatus,
        created_at: float,
    ) -> AsyncIterator[Outcome]:
        """Reads the output and error files, one outcome per line."""
        for file_id in status.result_files:
            response = await target.send(
                "GET", f"{self.base_url}/files/{file_id}/content", headers={"Accept": "*/*"}
            )
            for raw in response.content.splitlines():
                if raw.strip():
                    yield self._outcome(target, raw, created_at)

    @staticmethod
    def _outcome(target: BatchTarget, raw: bytes, created_at: float) -> Outcome:
        """Reads one output or error line into its outcome."""
        dialect = target.dialect
        line = decode_json(_OUTPUT, raw, provider=dialect.name, what="a batch output line")
        answer = line.response
        error: LLMError
        if answer is not None and answer.status_code < 300:
            body = bytes(answer.body)
            return line.custom_id, decode_answer(
                dialect, body, created_at=created_at, request_id=answer.request_id
            )
        if answer is not None:
            error = dialect.error(answer.status_code, httpx.Headers(), bytes(answer.body))
            error.status = error.status or answer.status_code
        elif line.error is not None and str(line.error.code) in _NOT_RUN:
            error = not_run(dialect.name, _NOT_RUN[str(line.error.code)], line.custom_id)
        elif line.error is not None:
            error = error_from_object(line.error)
        else:
            error = ResponseDecodeError(f"the output line for {line.custom_id!r} is empty")
        error.provider = error.provider or dialect.name
        if answer is not None:
            error.request_id = error.request_id or answer.request_id
        return line.custom_id, error
