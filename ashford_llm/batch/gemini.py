"""Gemini batch mode (Developer API): `models/{model}:batchGenerateContent`.

Each item is a full GenerateContentRequest, the body the dialect encodes for a live call,
keyed by its custom id. A batch whose create body stays under the inline limit (20 MB) sends
the requests inline (`inputConfig.requests.requests[]` of `{request, metadata: {key}}`);
a larger one uploads them as a JSONL file (`{"key", "request"}` lines) through the Files
API's resumable upload and names it in `inputConfig.fileName`. Poll `GET batches/{id}` (an
operation whose `metadata` is the batch) until its `state` ends; the results are inline
(`output.inlinedResponses.inlinedResponses[]`, each a `response` or an `error` with its
`metadata.key`) or in `output.responsesFile`, downloaded with `files/{id}:download?alt=media`.
One model per batch (it is in the URL). Cancel is `POST batches/{id}:cancel`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from ashford_llm.batch._types import BatchLimits, EndedAs, VendorBatch, VendorBatchStatus
from ashford_llm.batch._vendor import BatchTarget, Outcome, decode_answer, same_origin
from ashford_llm.errors import LLMError, ResponseDecodeError
from ashford_llm.providers._http import decode_json
from ashford_llm.providers.google.errors import Status, error_from_status

__all__ = ["GeminiBatches"]

_ENCODER = msgspec.json.Encoder()
_ENDED: dict[str, EndedAs] = {
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}
_INLINE_OVERHEAD = 512  # the create body around the requests: displayName, nesting


class _Metadata(msgspec.Struct):
    key: str | None = None


class _InlineRequest(msgspec.Struct):
    request: msgspec.Raw
    metadata: _Metadata


class _FileLine(msgspec.Struct):
    key: str
    request: msgspec.Raw


class _Answer(msgspec.Struct):
    # Raw cannot be optional in a union; absent is an empty Raw.
    response: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    error: Status | None = None
    metadata: _Metadata | None = None
    key: str | None = None


class _Inlined(msgspec.Struct, rename="camel"):
    inlined_responses: list[_Answer] = []


class _Output(msgspec.Struct, rename="camel"):
    inlined_responses: _Inlined | None = None
    responses_file: str | None = None


class _Stats(msgspec.Struct, rename="camel"):
    request_count: int | str = 0
    successful_request_count: int | str = 0
    failed_request_count: int | str = 0


class _Batch(msgspec.Struct, rename="camel"):
    state: str = "BATCH_STATE_UNSPECIFIED"
    batch_stats: _Stats | None = None
    output: _Output | None = None


class _Operation(msgspec.Struct):
    name: str
    metadata: _Batch | None = None
    error: Status | None = None


class _UploadedFile(msgspec.Struct):
    name: str


class _Upload(msgspec.Struct):
    file: _UploadedFile


_OPERATION = msgspec.json.Decoder(_Operation)
_UPLOAD = msgspec.json.Decoder(_Upload)
_ANSWER = msgspec.json.Decoder(_Answer)


def _count(value: int | str) -> int:
    """Reads an int64 count, which JSON carries as a string."""
    try:
        return int(value)
    except ValueError:
        return 0


def _status(operation: _Operation) -> VendorBatchStatus:
    """Turns the batch operation into our status."""
    batch = operation.metadata or _Batch()
    stats = batch.batch_stats or _Stats()
    ended_as = _ENDED.get(batch.state)
    output = batch.output
    files = (output.responses_file,) if output and output.responses_file else ()
    error = operation.error.message if operation.error else None
    return VendorBatchStatus(
        id=operation.name,
        vendor_state=batch.state,
        state="ended" if ended_as else "in_progress",
        total=_count(stats.request_count),
        succeeded=_count(stats.successful_request_count),
        failed=_count(stats.failed_request_count),
        ended_as=ended_as,
        error=error,
        result_files=files if ended_as else (),
    )


class GeminiBatches:
    """Gemini batch mode for one model, at a base URL and API version."""

    # Inline under 20 MB per create body; an uploaded input file may hold up to 2 GB.
    default_limits = BatchLimits(
        max_requests=1_000_000, max_bytes=2 * 1024**3, inline_bytes=20 * 1024 * 1024
    )
    custom_id = re.compile(r"[\x20-\x7e]{1,512}")

    def __init__(
        self, base_url: str, api_version: str, model: str, *, limits: BatchLimits | None = None
    ) -> None:
        self.limits = limits or self.default_limits
        self.root = f"{base_url.rstrip('/')}/{api_version}"
        self.upload_root = f"{base_url.rstrip('/')}/upload/{api_version}"
        path = model if "/" in model else f"models/{model}"
        self._create_url = f"{self.root}/{path}:batchGenerateContent"

    def item_size(self, custom_id: str, body: bytes) -> int:
        """Returns the bytes one item takes inline or as a file line (about the same)."""
        item = _InlineRequest(msgspec.Raw(body), _Metadata(key=custom_id))
        return len(_ENCODER.encode(item)) + 1

    async def create(
        self,
        target: BatchTarget,
        items: Sequence[tuple[str, bytes]],
        *,
        name: str,
    ) -> VendorBatch:
        """Creates the batch inline, or from an uploaded file when inline would be too big."""
        limit = self.limits.inline_bytes or 0
        size = _INLINE_OVERHEAD + sum(self.item_size(i, body) for i, body in items)
        input_file: str | None = None
        input_config: dict[str, Any]
        if size <= limit:
            requests = [_InlineRequest(msgspec.Raw(b), _Metadata(key=i)) for i, b in items]
            input_config = {"requests": {"requests": requests}}
        else:
            input_file = await self._upload(target, items, name=name)
            input_config = {"fileName": input_file}
        body = {"batch": {"displayName": name, "inputConfig": input_config}}
        response = await target.send("POST", self._create_url, content=_ENCODER.encode(body))
        operation = decode_json(
            _OPERATION, response.content, provider=target.dialect.name, what="a batch"
        )
        return VendorBatch(
            id=operation.name, custom_ids=tuple(i for i, _ in items), input_file=input_file
        )

    async def _upload(
        self, target: BatchTarget, items: Sequence[tuple[str, bytes]], *, name: str
    ) -> str:
        """Uploads the JSONL input with the resumable protocol (start, then upload+finalize)."""
        content = b"".join(
            _ENCODER.encode(_FileLine(i, msgspec.Raw(body))) + b"\n" for i, body in items
        )
        started = await target.send(
            "POST",
            f"{self.upload_root}/files",
            content=_ENCODER.encode({"file": {"displayName": name}}),
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(content)),
                "X-Goog-Upload-Header-Content-Type": "application/jsonl",
            },
        )
        upload_url = started.headers.get("x-goog-upload-url")
        if not upload_url:
            raise ResponseDecodeError(
                "the Files API gave no upload URL", provider=target.dialect.name
            )
        finished = await target.send(
            "POST",
            same_origin(upload_url, self.root, provider=target.dialect.name),
            content=content,
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        uploaded = decode_json(
            _UPLOAD, finished.content, provider=target.dialect.name, what="an uploaded file"
        )
        return uploaded.file.name

    async def _get(self, target: BatchTarget, batch_id: str) -> _Operation:
        """Reads `GET batches/{id}`."""
        response = await target.send("GET", f"{self.root}/{batch_id}")
        return decode_json(
            _OPERATION, response.content, provider=target.dialect.name, what="a batch"
        )

    async def poll(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Reads the batch's state and counts."""
        return _status(await self._get(target, batch.id))

    async def cancel(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Sends `POST batches/{id}:cancel`, then reads the batch."""
        await target.send("POST", f"{self.root}/{batch.id}:cancel")
        return await self.poll(target, batch)

    async def results(
        self,
        target: BatchTarget,
        batch: VendorBatch,
        status: VendorBatchStatus,
        created_at: float,
    ) -> AsyncIterator[Outcome]:
        """Reads the inline responses, or the responses file, one outcome per item."""
        if status.result_files:
            for file in status.result_files:
                response = await target.send(
                    "GET", f"{self.root}/{file}:download?alt=media", headers={"Accept": "*/*"}
                )
                lines = [raw for raw in response.content.splitlines() if raw.strip()]
                for index, raw in enumerate(lines):
                    answer = decode_json(
                        _ANSWER, raw, provider=target.dialect.name, what="a response line"
                    )
                    # A line without its key is matched by position, as inline responses are.
                    fallback = batch.custom_ids[index] if index < len(batch.custom_ids) else None
                    yield self._outcome(target, answer, fallback, created_at)
            return
        operation = await self._get(target, status.id)
        output = operation.metadata.output if operation.metadata else None
        inlined = output.inlined_responses if output else None
        ids = batch.custom_ids
        for index, answer in enumerate(inlined.inlined_responses if inlined else ()):
            # Inline responses come in input order: that names an item without its key.
            fallback = ids[index] if index < len(ids) else None
            yield self._outcome(target, answer, fallback, created_at)

    @staticmethod
    def _outcome(
        target: BatchTarget, answer: _Answer, fallback: str | None, created_at: float
    ) -> Outcome:
        """Reads one inline response or file line into its outcome."""
        dialect = target.dialect
        key = (answer.metadata.key if answer.metadata else None) or answer.key or fallback
        if key is None:
            raise ResponseDecodeError(
                "a Gemini batch response carries no key", provider=dialect.name
            )
        if len(answer.response) > 0 and answer.error is None:
            return key, decode_answer(
                dialect, bytes(answer.response), created_at=created_at, request_id=None
            )
        error: LLMError
        if answer.error is not None:
            error = error_from_status(answer.error, None)
        else:
            error = ResponseDecodeError(f"the batch response for {key!r} is empty")
        error.provider = error.provider or dialect.name
        return key, error
