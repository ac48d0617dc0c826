"""OpenAI's Files and Batch APIs on the fake server (`/v1/files`, `/v1/batches`)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ashford_llm.testing.fake_server.batches.store import (
    BAD_INPUT,
    JSON,
    Batch,
    BatchStore,
    Item,
    form,
    reply,
)
from ashford_llm.testing.fake_server.openai import FORMAT
from ashford_llm.testing.fake_server.wire import encode

__all__ = ["OpenAIBatchRoutes"]


class OpenAIBatchRoutes:
    """The routes of this vendor's batch API over the shared store."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        """Returns this vendor's batch routes."""
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._file, methods=["GET"]),
            Route("/v1/batches", self._create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self._get, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
        ]

    async def _upload(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        fields = form(await request.body(), request.headers.get("content-type", ""))
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return reply(FORMAT.bad_request("purpose must be batch, with a file", "req_upload"))
        file_id = self.store.next("file-")
        self.store.files[file_id] = fields["file"]
        data = {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "purpose": "batch",
            "status": "processed",
        }
        return Response(encode(data), media_type="application/json")

    async def _file(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        content = self.store.files.get(request.path_params["file_id"])
        if content is None:
            return reply(FORMAT.bad_request("No such File object", "req_file"), status=404)
        return Response(content, media_type="application/octet-stream")

    async def _create(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        try:
            body = JSON.decode(await request.body())
            content = self.store.files.get(body.get("input_file_id", ""))
            if (
                content is None
                or body.get("endpoint") != "/v1/chat/completions"
                or body.get("completion_window") != "24h"
            ):
                return reply(FORMAT.bad_request("invalid batch create request", "req_batch"))
            lines = [JSON.decode(raw) for raw in content.splitlines() if raw.strip()]
            pairs = [(line["custom_id"], encode(line["body"])) for line in lines]
        except BAD_INPUT as exc:
            return reply(FORMAT.bad_request(f"malformed batch input: {exc}", "req_batch"))
        batch = self.store.new("batch_", "openai", self.store.answer_items(FORMAT, pairs, None))
        batch.input_file = body["input_file_id"]
        return Response(self._object(batch), media_type="application/json")

    def _object(self, batch: Batch, *, cancelling: bool = False) -> bytes:
        state, done = self.store.progress(batch)
        finished = batch.items[:done]
        output_id = error_id = None
        if state != "running" and batch.output is not None:
            output_id, error_id = batch.output
        elif state != "running":
            ok = [i for i in finished if i.status == 200]
            bad = [i for i in finished if i.status != 200]
            unrun = batch.items[done:]
            output_id = self.store.store(b"".join(_line(i) for i in ok)) if ok else None
            errors = b"".join(_line(i) for i in bad)
            if state == "expired":
                errors += b"".join(_expired(i) for i in unrun)
            error_id = self.store.store(errors) if errors else None
            batch.output = (output_id, error_id)
        status = {
            "running": "in_progress",
            "completed": "completed",
            "expired": "expired",
            "cancelled": "cancelled",
        }[state]
        if cancelling:
            status = "cancelling"
        counts = {
            "total": len(batch.items),
            "completed": sum(1 for i in finished if i.status == 200),
            "failed": sum(1 for i in finished if i.status != 200),
        }
        data = {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "status": status,
            "input_file_id": batch.input_file,
            "completion_window": "24h",
            "created_at": int(batch.wall_created),
            "output_file_id": output_id,
            "error_file_id": error_id,
            "request_counts": counts,
            "errors": None,
        }
        return encode(data)

    async def _get(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        batch = self.store.batch(request.path_params["batch_id"], "openai")
        if batch is None:
            return reply(FORMAT.bad_request("No batch found", "req_get"), status=404)
        return Response(self._object(batch), media_type="application/json")

    async def _cancel(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        batch = self.store.batch(request.path_params["batch_id"], "openai")
        if batch is None:
            return reply(FORMAT.bad_request("No batch found", "req_get"), status=404)
        if self.store.progress(batch)[0] == "running":
            batch.cancelled_at = self.store.clock()
            return Response(self._object(batch, cancelling=True), media_type="application/json")
        return Response(self._object(batch), media_type="application/json")


def _line(item: Item) -> bytes:
    response = {
        "status_code": item.status,
        "request_id": f"req_{item.custom_id}",
        "body": msgspec.Raw(item.body),
    }
    return (
        encode(
            {
                "id": f"batch_req_{item.custom_id}",
                "custom_id": item.custom_id,
                "response": response,
                "error": None,
            }
        )
        + b"\n"
    )


def _expired(item: Item) -> bytes:
    error = {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    }
    return (
        encode(
            {
                "id": f"batch_req_{item.custom_id}",
                "custom_id": item.custom_id,
                "response": None,
                "error": error,
            }
        )
        + b"\n"
    )
