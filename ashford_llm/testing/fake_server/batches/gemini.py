"""Gemini's batch mode and Files API on the fake server (`batchGenerateContent`)."""

from __future__ import annotations

import time
from typing import Any

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
    iso,
    reply,
)
from ashford_llm.testing.fake_server.gemini import FORMAT
from ashford_llm.testing.fake_server.wire import encode

__all__ = ["GeminiBatchRoutes"]


class GeminiBatchRoutes:
    """The routes of this vendor's batch API over the shared store."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        """Returns this vendor's batch routes."""
        return [
            Route(
                "/{version}/models/{model}:batchGenerateContent",
                self._create,
                methods=["POST"],
            ),
            Route("/{version}/batches/{target}", self._batch, methods=["GET", "POST"]),
            Route("/upload/{version}/files", self._upload, methods=["POST"]),
            Route("/{version}/files/{target}", self._download, methods=["GET"]),
        ]

    async def _create(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        model = request.path_params["model"]
        try:
            body = JSON.decode(await request.body()).get("batch", {})
            config = body.get("inputConfig", {})
            if not body.get("displayName"):
                return reply(FORMAT.bad_request("batch.display_name is required", "req_b"))
            from_file = "fileName" in config
            if from_file:
                content = self.store.files.get(config["fileName"], b"")
                lines = [JSON.decode(raw) for raw in content.splitlines() if raw.strip()]
                pairs = [(line["key"], encode(line["request"])) for line in lines]
            else:
                requests = config.get("requests", {}).get("requests", [])
                pairs = [(r["metadata"]["key"], encode(r["request"])) for r in requests]
        except BAD_INPUT as exc:
            return reply(FORMAT.bad_request(f"malformed batch input: {exc}", "req_b"))
        if not pairs:
            return reply(FORMAT.bad_request("the batch has no requests", "req_b"))
        batch = self.store.new("batches/", "gemini", self.store.answer_items(FORMAT, pairs, model))
        batch.model = f"models/{model}"
        batch.input_file = "file" if from_file else ""
        return Response(self._object(batch), media_type="application/json")

    def _object(self, batch: Batch) -> bytes:
        state, done = self.store.progress(batch)
        ended = state != "running"
        finished = batch.items[:done]
        ok = sum(1 for i in finished if i.status == 200)
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": batch.model,
            "state": {
                "running": "BATCH_STATE_RUNNING",
                "completed": "BATCH_STATE_SUCCEEDED",
                "expired": "BATCH_STATE_EXPIRED",
                "cancelled": "BATCH_STATE_CANCELLED",
            }[state],
            "createTime": iso(batch.wall_created),
            "updateTime": iso(time.time()),
            "batchStats": {
                "requestCount": str(len(batch.items)),
                "successfulRequestCount": str(ok),
                "failedRequestCount": str(len(finished) - ok),
                "pendingRequestCount": str(0 if ended else len(batch.items) - done),
            },
        }
        if ended and batch.output is not None:
            metadata["output"] = batch.output
        elif ended:
            answers = [_answer(item) for item in finished]
            if batch.input_file:
                content = b"".join(
                    encode({"key": item.custom_id, **answer}) + b"\n"
                    for item, answer in zip(finished, answers, strict=True)
                )
                metadata["output"] = {"responsesFile": self.store.store_named(content)}
            else:
                metadata["output"] = {
                    "inlinedResponses": {
                        "inlinedResponses": [
                            {**answer, "metadata": {"key": item.custom_id}}
                            for item, answer in zip(finished, answers, strict=True)
                        ]
                    }
                }
        return encode({"name": batch.id, "metadata": metadata, "done": ended})

    async def _batch(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        target, _, method = request.path_params["target"].partition(":")
        batch = self.store.batch(f"batches/{target}", "gemini")
        if batch is None:
            return reply(FORMAT.bad_request("batch not found", "req_b"), status=404)
        if request.method == "POST":
            if method != "cancel":
                return Response(b"Not Found", status_code=404, media_type="text/plain")
            if self.store.progress(batch)[0] == "running":
                batch.cancelled_at = self.store.clock()
            return Response(b"{}", media_type="application/json")
        return Response(self._object(batch), media_type="application/json")

    async def _upload(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            upload_id = self.store.next("up")
            url = f"{str(request.base_url).rstrip('/')}{request.url.path}?upload_id={upload_id}"
            return Response(
                b"", headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"}
            )
        if "finalize" in command and request.query_params.get("upload_id"):
            name = self.store.store_named(await request.body())
            data = {"file": {"name": name, "mimeType": "application/jsonl", "state": "ACTIVE"}}
            return Response(
                encode(data),
                media_type="application/json",
                headers={"x-goog-upload-status": "final"},
            )
        return reply(FORMAT.bad_request("bad upload command", "req_up"))

    async def _download(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        target, _, method = request.path_params["target"].partition(":")
        content = self.store.files.get(f"files/{target}")
        if method != "download" or request.query_params.get("alt") != "media" or content is None:
            return reply(FORMAT.bad_request("file not found", "req_dl"), status=404)
        return Response(content, media_type="application/octet-stream")


def _answer(item: Item) -> dict[str, Any]:
    if item.status == 200:
        return {"response": msgspec.Raw(item.body)}
    error = JSON.decode(item.body).get("error", {})
    return {"error": error}
