"""Anthropic's Message Batches on the fake server (`/v1/messages/batches`)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ashford_llm.testing.fake_server.anthropic import FORMAT
from ashford_llm.testing.fake_server.batches.store import (
    BAD_INPUT,
    JSON,
    Batch,
    BatchStore,
    iso,
    reply,
)
from ashford_llm.testing.fake_server.wire import encode

__all__ = ["AnthropicBatchRoutes"]


class AnthropicBatchRoutes:
    """The routes of this vendor's batch API over the shared store."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        """Returns this vendor's batch routes."""
        return [
            Route("/v1/messages/batches", self._create, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}", self._get, methods=["GET"]),
            Route("/v1/messages/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}/results", self._results, methods=["GET"]),
        ]

    async def _create(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        try:
            body = JSON.decode(await request.body())
            pairs = [(r["custom_id"], encode(r["params"])) for r in body.get("requests", [])]
        except BAD_INPUT as exc:
            return reply(FORMAT.bad_request(f"malformed batch input: {exc}", "req_batch"))
        if not pairs:
            return reply(FORMAT.bad_request("requests: field required", "req_batch"))
        batch = self.store.new(
            "msgbatch_", "anthropic", self.store.answer_items(FORMAT, pairs, None)
        )
        return Response(self._object(batch, request), media_type="application/json")

    def _object(self, batch: Batch, request: Request) -> bytes:
        state, done = self.store.progress(batch)
        ended = state != "running"
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for item in batch.items[:done]:
                counts["succeeded" if item.status == 200 else "errored"] += 1
            counts["canceled" if state == "cancelled" else "expired"] += len(batch.items) - done
        else:
            counts["processing"] = len(batch.items)
        root = str(request.base_url).rstrip("/")
        data = {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": iso(batch.wall_created),
            "expires_at": iso(batch.wall_created + 86400),
            "ended_at": iso(time.time()) if ended else None,
            "cancel_initiated_at": iso(time.time()) if batch.cancelled_at is not None else None,
            "archived_at": None,
            "results_url": f"{root}/v1/messages/batches/{batch.id}/results" if ended else None,
        }
        return encode(data)

    async def _get(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        batch = self.store.batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return reply(FORMAT.bad_request("batch not found", "req_get"), status=404)
        return Response(self._object(batch, request), media_type="application/json")

    async def _cancel(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        batch = self.store.batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return reply(FORMAT.bad_request("batch not found", "req_get"), status=404)
        if self.store.progress(batch)[0] == "running":
            batch.cancelled_at = self.store.clock()
        return Response(self._object(batch, request), media_type="application/json")

    async def _results(self, request: Request) -> Response:
        if (denied := self.store.denied(FORMAT, request)) is not None:
            return denied
        batch = self.store.batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return reply(FORMAT.bad_request("batch not found", "req_get"), status=404)
        state, done = self.store.progress(batch)
        if state == "running":
            return reply(FORMAT.bad_request("batch has not ended", "req_res"))
        lines = []
        for index, item in enumerate(batch.items):
            if index >= done:
                result: dict[str, Any] = {"type": "canceled" if state == "cancelled" else "expired"}
            elif item.status == 200:
                result = {"type": "succeeded", "message": msgspec.Raw(item.body)}
            else:
                result = {"type": "errored", "error": msgspec.Raw(item.body)}
            lines.append(encode({"custom_id": item.custom_id, "result": result}) + b"\n")
        return Response(b"".join(lines), media_type="application/binary")
