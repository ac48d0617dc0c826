"""The three vendors' batch APIs on the fake server, with time scaled to seconds.

OpenAI (`/v1/files`, `/v1/batches`), Anthropic (`/v1/messages/batches`) and Gemini
(`models/{model}:batchGenerateContent`, `batches/{id}`, the Files API's resumable upload and
download) speak their vendors' wire formats. Every item is answered when the batch is
created, by the server's answer function (`make_answer` and the vendor format's body), and
becomes visible as time passes: item i of n is done `processing_seconds * (i + 1) / n`
after creation. `expire_seconds` ends a batch early as expired (the items not done are not
run); cancelling ends it at once (the same). `faults` maps custom ids to a status fault
(`rate_limit`, `server_error`, `overloaded`, `quota_exhausted`, `unavailable`) or
`invalid` (a 400), answered for that item inside the results.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ashford_llm.testing.fake_server import anthropic, gemini, openai
from ashford_llm.testing.fake_server.answers import AnswerFunction, PromptCache, make_answer
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, VendorFormat, encode

__all__ = ["BatchOptions", "FakeBatches"]

_JSON = msgspec.json.Decoder(dict[str, Any])
_ITEM_FAULTS = frozenset(
    {"rate_limit", "server_error", "overloaded", "quota_exhausted", "unavailable", "invalid"}
)


class BatchOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How the fake batch APIs behave: processing time, an expiry, per-item faults.

    `processing_seconds` is how long a batch takes (its items finish evenly over it);
    `expire_seconds` ends a batch as expired at that age when it is shorter; `faults` maps
    custom ids to the fault their item gets.
    """

    processing_seconds: float = 1.0
    expire_seconds: float | None = None
    faults: dict[str, str] = {}

    def __post_init__(self) -> None:
        if self.processing_seconds < 0:
            raise ValueError("processing_seconds must be >= 0")
        if self.expire_seconds is not None and self.expire_seconds <= 0:
            raise ValueError("expire_seconds must be positive or None")
        unknown = set(self.faults.values()) - _ITEM_FAULTS
        if unknown:
            raise ValueError(
                f"unknown batch item faults {sorted(unknown)}; use {sorted(_ITEM_FAULTS)}"
            )


class _Item(msgspec.Struct):
    custom_id: str
    status: int
    body: bytes


class _Batch:
    """One batch: its items (already answered), when it started, and whether it was cancelled."""

    def __init__(self, batch_id: str, vendor: str, items: list[_Item], created: float) -> None:
        self.id = batch_id
        self.vendor = vendor
        self.items = items
        self.created = created
        self.wall_created = time.time()
        self.cancelled_at: float | None = None
        self.model = ""
        self.input_file = ""
        self.output: Any = None  # the result files or inline output, made once it ended


def _iso(seconds: float) -> str:
    """Formats Unix seconds as RFC 3339, as Anthropic and Gemini send times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _form(body: bytes, content_type: str) -> dict[str, bytes]:
    """Reads a multipart/form-data body into field -> bytes (the fake needs no more)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


class FakeBatches:
    """The batch endpoints of the three vendors, as Starlette routes over shared state."""

    def __init__(
        self,
        *,
        answer: AnswerFunction,
        cache: PromptCache,
        api_key: str | None,
        options: BatchOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._answer = answer
        self._cache = cache
        self._api_key = api_key
        self.options = options
        self._clock = clock
        self._batches: dict[str, _Batch] = {}
        self._files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        """Returns the routes, to go before the server's generic Gemini route."""
        return [
            Route("/v1/files", self._openai_upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._openai_file, methods=["GET"]),
            Route("/v1/batches", self._openai_create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self._openai_get, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self._openai_cancel, methods=["POST"]),
            Route("/v1/messages/batches", self._anthropic_create, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}", self._anthropic_get, methods=["GET"]),
            Route(
                "/v1/messages/batches/{batch_id}/cancel", self._anthropic_cancel, methods=["POST"]
            ),
            Route(
                "/v1/messages/batches/{batch_id}/results", self._anthropic_results, methods=["GET"]
            ),
            Route(
                "/{version}/models/{model}:batchGenerateContent",
                self._gemini_create,
                methods=["POST"],
            ),
            Route("/{version}/batches/{target}", self._gemini_batch, methods=["GET", "POST"]),
            Route("/upload/{version}/files", self._gemini_upload, methods=["POST"]),
            Route("/{version}/files/{target}", self._gemini_download, methods=["GET"]),
        ]

    # Shared machinery.

    def _next(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids):06d}"

    def _answer_items(
        self, fmt: VendorFormat, pairs: list[tuple[str, bytes]], model: str | None
    ) -> list[_Item]:
        """Answers every item now, as a live call would, or with its scripted fault."""
        items: list[_Item] = []
        for custom_id, body in pairs:
            request_id = self._next("req_batch")
            fault = self.options.faults.get(custom_id)
            if fault == "invalid":
                reply = fmt.bad_request("Invalid request in batch item.", request_id)
                items.append(_Item(custom_id, reply.status, reply.body))
                continue
            if fault is not None:
                reply = fmt.error(
                    Fault(fault), model=model or "", request_id=request_id, retry_after=1.0
                )
                items.append(_Item(custom_id, reply.status, reply.body))
                continue
            try:
                parsed = fmt.parse(body, model=model, stream=False)
            except BadRequest as exc:
                reply = fmt.bad_request(str(exc), request_id)
                items.append(_Item(custom_id, reply.status, reply.body))
                continue
            answer = make_answer(parsed, self._answer, self._cache)
            items.append(_Item(custom_id, 200, fmt.body(answer, parsed, self._next("batchmsg"))))
        return items

    def _new(self, prefix: str, vendor: str, items: list[_Item]) -> _Batch:
        batch = _Batch(self._next(prefix), vendor, items, self._clock())
        with self._lock:
            self._batches[batch.id] = batch
        return batch

    def _progress(self, batch: _Batch) -> tuple[str, int]:
        """Returns (state, items done): state running, completed, expired or cancelled."""
        now = self._clock()
        options = self.options
        ends = batch.created + options.processing_seconds
        count = len(batch.items)
        stop = now
        state = "running"
        if batch.cancelled_at is not None:
            stop, state = batch.cancelled_at, "cancelled"
        elif (
            options.expire_seconds is not None
            and options.expire_seconds < options.processing_seconds
            and now >= batch.created + options.expire_seconds
        ):
            stop, state = batch.created + options.expire_seconds, "expired"
        elif now >= ends:
            return "completed", count
        if options.processing_seconds == 0:
            done = count
        else:
            share = (stop - batch.created) / options.processing_seconds
            done = min(count, int(share * count))
        return state, done

    def _batch(self, batch_id: str, vendor: str) -> _Batch | None:
        batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.vendor == vendor else None

    def _denied(self, fmt: VendorFormat, request: Request) -> Response | None:
        reply = fmt.authenticate(request.headers, request.query_params, self._api_key)
        return None if reply is None else _reply(reply)

    # OpenAI.

    async def _openai_upload(self, request: Request) -> Response:
        if (denied := self._denied(openai.FORMAT, request)) is not None:
            return denied
        fields = _form(await request.body(), request.headers.get("content-type", ""))
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return _reply(
                openai.FORMAT.bad_request("purpose must be batch, with a file", "req_upload")
            )
        file_id = self._next("file-")
        self._files[file_id] = fields["file"]
        data = {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "purpose": "batch",
            "status": "processed",
        }
        return Response(encode(data), media_type="application/json")

    async def _openai_file(self, request: Request) -> Response:
        if (denied := self._denied(openai.FORMAT, request)) is not None:
            return denied
        content = self._files.get(request.path_params["file_id"])
        if content is None:
            return _reply(openai.FORMAT.bad_request("No such File object", "req_file"), status=404)
        return Response(content, media_type="application/octet-stream")

    async def _openai_create(self, request: Request) -> Response:
        if (denied := self._denied(openai.FORMAT, request)) is not None:
            return denied
        body = _JSON.decode(await request.body())
        content = self._files.get(body.get("input_file_id", ""))
        if (
            content is None
            or body.get("endpoint") != "/v1/chat/completions"
            or body.get("completion_window") != "24h"
        ):
            return _reply(openai.FORMAT.bad_request("invalid batch create request", "req_batch"))
        pairs = []
        for raw in content.splitlines():
            line = _JSON.decode(raw)
            pairs.append((line["custom_id"], encode(line["body"])))
        batch = self._new("batch_", "openai", self._answer_items(openai.FORMAT, pairs, None))
        batch.input_file = body["input_file_id"]
        return Response(self._openai_object(batch), media_type="application/json")

    def _openai_object(self, batch: _Batch, *, cancelling: bool = False) -> bytes:
        state, done = self._progress(batch)
        finished = batch.items[:done]
        output_id = error_id = None
        if state != "running" and batch.output is not None:
            output_id, error_id = batch.output
        elif state != "running":
            ok = [i for i in finished if i.status == 200]
            bad = [i for i in finished if i.status != 200]
            unrun = batch.items[done:]
            output_id = self._store(b"".join(_openai_line(i) for i in ok)) if ok else None
            errors = b"".join(_openai_line(i) for i in bad)
            if state == "expired":
                errors += b"".join(_openai_expired(i) for i in unrun)
            error_id = self._store(errors) if errors else None
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

    def _store(self, content: bytes) -> str:
        file_id = self._next("file-")
        self._files[file_id] = content
        return file_id

    async def _openai_get(self, request: Request) -> Response:
        if (denied := self._denied(openai.FORMAT, request)) is not None:
            return denied
        batch = self._batch(request.path_params["batch_id"], "openai")
        if batch is None:
            return _reply(openai.FORMAT.bad_request("No batch found", "req_get"), status=404)
        return Response(self._openai_object(batch), media_type="application/json")

    async def _openai_cancel(self, request: Request) -> Response:
        if (denied := self._denied(openai.FORMAT, request)) is not None:
            return denied
        batch = self._batch(request.path_params["batch_id"], "openai")
        if batch is None:
            return _reply(openai.FORMAT.bad_request("No batch found", "req_get"), status=404)
        if self._progress(batch)[0] == "running":
            batch.cancelled_at = self._clock()
            return Response(
                self._openai_object(batch, cancelling=True), media_type="application/json"
            )
        return Response(self._openai_object(batch), media_type="application/json")

    # Anthropic.

    async def _anthropic_create(self, request: Request) -> Response:
        if (denied := self._denied(anthropic.FORMAT, request)) is not None:
            return denied
        body = _JSON.decode(await request.body())
        pairs = [(r["custom_id"], encode(r["params"])) for r in body.get("requests", [])]
        if not pairs:
            return _reply(anthropic.FORMAT.bad_request("requests: field required", "req_batch"))
        batch = self._new(
            "msgbatch_", "anthropic", self._answer_items(anthropic.FORMAT, pairs, None)
        )
        return Response(self._anthropic_object(batch, request), media_type="application/json")

    def _anthropic_object(self, batch: _Batch, request: Request) -> bytes:
        state, done = self._progress(batch)
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
            "created_at": _iso(batch.wall_created),
            "expires_at": _iso(batch.wall_created + 86400),
            "ended_at": _iso(time.time()) if ended else None,
            "cancel_initiated_at": _iso(time.time()) if batch.cancelled_at is not None else None,
            "archived_at": None,
            "results_url": f"{root}/v1/messages/batches/{batch.id}/results" if ended else None,
        }
        return encode(data)

    async def _anthropic_get(self, request: Request) -> Response:
        if (denied := self._denied(anthropic.FORMAT, request)) is not None:
            return denied
        batch = self._batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return _reply(anthropic.FORMAT.bad_request("batch not found", "req_get"), status=404)
        return Response(self._anthropic_object(batch, request), media_type="application/json")

    async def _anthropic_cancel(self, request: Request) -> Response:
        if (denied := self._denied(anthropic.FORMAT, request)) is not None:
            return denied
        batch = self._batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return _reply(anthropic.FORMAT.bad_request("batch not found", "req_get"), status=404)
        if self._progress(batch)[0] == "running":
            batch.cancelled_at = self._clock()
        return Response(self._anthropic_object(batch, request), media_type="application/json")

    async def _anthropic_results(self, request: Request) -> Response:
        if (denied := self._denied(anthropic.FORMAT, request)) is not None:
            return denied
        batch = self._batch(request.path_params["batch_id"], "anthropic")
        if batch is None:
            return _reply(anthropic.FORMAT.bad_request("batch not found", "req_get"), status=404)
        state, done = self._progress(batch)
        if state == "running":
            return _reply(anthropic.FORMAT.bad_request("batch has not ended", "req_res"))
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

    # Gemini.

    async def _gemini_create(self, request: Request) -> Response:
        if (denied := self._denied(gemini.FORMAT, request)) is not None:
            return denied
        model = request.path_params["model"]
        body = _JSON.decode(await request.body()).get("batch", {})
        config = body.get("inputConfig", {})
        if not body.get("displayName"):
            return _reply(gemini.FORMAT.bad_request("batch.display_name is required", "req_b"))
        if "fileName" in config:
            content = self._files.get(config["fileName"], b"")
            lines = [_JSON.decode(raw) for raw in content.splitlines() if raw.strip()]
            pairs = [(line["key"], encode(line["request"])) for line in lines]
            from_file = True
        else:
            requests = config.get("requests", {}).get("requests", [])
            pairs = [(r["metadata"]["key"], encode(r["request"])) for r in requests]
            from_file = False
        if not pairs:
            return _reply(gemini.FORMAT.bad_request("the batch has no requests", "req_b"))
        batch = self._new("batches/", "gemini", self._answer_items(gemini.FORMAT, pairs, model))
        batch.model = f"models/{model}"
        batch.input_file = "file" if from_file else ""
        return Response(self._gemini_object(batch), media_type="application/json")

    def _gemini_object(self, batch: _Batch) -> bytes:
        state, done = self._progress(batch)
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
            "createTime": _iso(batch.wall_created),
            "updateTime": _iso(time.time()),
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
            answers = [_gemini_answer(item) for item in finished]
            if batch.input_file:
                content = b"".join(
                    encode({"key": item.custom_id, **answer}) + b"\n"
                    for item, answer in zip(finished, answers, strict=True)
                )
                metadata["output"] = {"responsesFile": self._store_gemini(content)}
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

    def _store_gemini(self, content: bytes) -> str:
        name = self._next("files/")
        self._files[name] = content
        return name

    async def _gemini_batch(self, request: Request) -> Response:
        if (denied := self._denied(gemini.FORMAT, request)) is not None:
            return denied
        target, _, method = request.path_params["target"].partition(":")
        batch = self._batch(f"batches/{target}", "gemini")
        if batch is None:
            return _reply(gemini.FORMAT.bad_request("batch not found", "req_b"), status=404)
        if request.method == "POST":
            if method != "cancel":
                return Response(b"Not Found", status_code=404, media_type="text/plain")
            if self._progress(batch)[0] == "running":
                batch.cancelled_at = self._clock()
            return Response(b"{}", media_type="application/json")
        return Response(self._gemini_object(batch), media_type="application/json")

    async def _gemini_upload(self, request: Request) -> Response:
        if (denied := self._denied(gemini.FORMAT, request)) is not None:
            return denied
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            upload_id = self._next("up")
            url = f"{str(request.base_url).rstrip('/')}{request.url.path}?upload_id={upload_id}"
            return Response(
                b"", headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"}
            )
        if "finalize" in command and request.query_params.get("upload_id"):
            name = self._store_gemini(await request.body())
            data = {"file": {"name": name, "mimeType": "application/jsonl", "state": "ACTIVE"}}
            return Response(
                encode(data),
                media_type="application/json",
                headers={"x-goog-upload-status": "final"},
            )
        return _reply(gemini.FORMAT.bad_request("bad upload command", "req_up"))

    async def _gemini_download(self, request: Request) -> Response:
        if (denied := self._denied(gemini.FORMAT, request)) is not None:
            return denied
        target, _, method = request.path_params["target"].partition(":")
        content = self._files.get(f"files/{target}")
        if method != "download" or request.query_params.get("alt") != "media" or content is None:
            return _reply(gemini.FORMAT.bad_request("file not found", "req_dl"), status=404)
        return Response(content, media_type="application/octet-stream")


def _reply(reply: Reply, *, status: int | None = None) -> Response:
    headers = {**reply.headers, "content-type": reply.content_type}
    return Response(reply.body, status_code=status or reply.status, headers=headers)


def _openai_line(item: _Item) -> bytes:
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


def _openai_expired(item: _Item) -> bytes:
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


def _gemini_answer(item: _Item) -> dict[str, Any]:
    if item.status == 200:
        return {"response": msgspec.Raw(item.body)}
    error = _JSON.decode(item.body).get("error", {})
    return {"error": error}
