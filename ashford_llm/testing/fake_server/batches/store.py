"""What the fake batch APIs share: options, the batches and files, answering items, time.

Every item is answered when its batch is created, by the server's answer function
(`make_answer` and the vendor format's body), and becomes visible as time passes: item i of
n is done `processing_seconds * (i + 1) / n` after creation. `expire_seconds` ends a batch
early as expired (the items not done are not run); cancelling ends it at once (the same).
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

from ashford_llm.testing.fake_server.answers import AnswerFunction, PromptCache, make_answer
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, VendorFormat

__all__ = [
    "BAD_INPUT",
    "JSON",
    "Batch",
    "BatchOptions",
    "BatchStore",
    "Item",
    "form",
    "iso",
    "reply",
]


JSON = msgspec.json.Decoder(dict[str, Any])
BAD_INPUT = (msgspec.DecodeError, KeyError, TypeError, AttributeError)
"""What reading a malformed create body or input file raises; the fake answers it with a 400."""
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


class Item(msgspec.Struct):
    """One item: its id and its answer, a status and the vendor body (an error's when not 200)."""

    custom_id: str
    status: int
    body: bytes


class Batch:
    """One batch: its items (already answered), when it started, and whether it was cancelled."""

    def __init__(self, batch_id: str, vendor: str, items: list[Item], created: float) -> None:
        self.id = batch_id
        self.vendor = vendor
        self.items = items
        self.created = created
        self.wall_created = time.time()
        self.cancelled_at: float | None = None
        self.model = ""
        self.input_file = ""
        self.output: Any = None  # the result files or inline output, made once it ended


def iso(seconds: float) -> str:
    """Formats Unix seconds as RFC 3339, as Anthropic and Gemini send times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def form(body: bytes, content_type: str) -> dict[str, bytes]:
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


class BatchStore:
    """What the three fake batch APIs share: the batches, the files, answering and time."""

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
        self.clock = clock
        self._batches: dict[str, Batch] = {}
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next(self, prefix: str) -> str:
        """Returns a new id with the prefix."""
        with self._lock:
            return f"{prefix}{next(self._ids):06d}"

    def answer_items(
        self, fmt: VendorFormat, pairs: list[tuple[str, bytes]], model: str | None
    ) -> list[Item]:
        """Answers every item now, as a live call would, or with its scripted fault."""
        items: list[Item] = []
        for custom_id, body in pairs:
            request_id = self.next("req_batch")
            fault = self.options.faults.get(custom_id)
            if fault == "invalid":
                reply = fmt.bad_request("Invalid request in batch item.", request_id)
                items.append(Item(custom_id, reply.status, reply.body))
                continue
            if fault is not None:
                reply = fmt.error(
                    Fault(fault), model=model or "", request_id=request_id, retry_after=1.0
                )
                items.append(Item(custom_id, reply.status, reply.body))
                continue
            try:
                parsed = fmt.parse(body, model=model, stream=False)
            except BadRequest as exc:
                reply = fmt.bad_request(str(exc), request_id)
                items.append(Item(custom_id, reply.status, reply.body))
                continue
            answer = make_answer(parsed, self._answer, self._cache)
            items.append(Item(custom_id, 200, fmt.body(answer, parsed, self.next("batchmsg"))))
        return items

    def new(self, prefix: str, vendor: str, items: list[Item]) -> Batch:
        """Starts a batch of answered items now."""
        batch = Batch(self.next(prefix), vendor, items, self.clock())
        with self._lock:
            self._batches[batch.id] = batch
        return batch

    def progress(self, batch: Batch) -> tuple[str, int]:
        """Returns (state, items done): state running, completed, expired or cancelled."""
        now = self.clock()
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

    def batch(self, batch_id: str, vendor: str) -> Batch | None:
        """Returns the vendor's batch of that id, or None."""
        batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.vendor == vendor else None

    def denied(self, fmt: VendorFormat, request: Request) -> Response | None:
        """Returns the vendor's auth error response, or None when the request passes."""
        refused = fmt.authenticate(request.headers, request.query_params, self._api_key)
        return None if refused is None else reply(refused)

    def store(self, content: bytes) -> str:
        """Stores a file under a new OpenAI-style id."""
        file_id = self.next("file-")
        self.files[file_id] = content
        return file_id

    def store_named(self, content: bytes) -> str:
        """Stores a file under a new Gemini-style name (`files/...`)."""
        name = self.next("files/")
        self.files[name] = content
        return name


def reply(answer: Reply, *, status: int | None = None) -> Response:
    """Turns a vendor format's reply into a response (`status` overrides its status)."""
    headers = {**answer.headers, "content-type": answer.content_type}
    return Response(answer.body, status_code=status or answer.status, headers=headers)
