"""The seams of the batch API: the provider it drives and one module per vendor's batch API.

`BatchTarget` is what a batch function needs from a provider: its dialect (which encodes each
request exactly as a live call would, and decodes answers and error bodies) and `send` (its
client, credentials and typed errors, for the batch and file endpoints). `HTTPProvider`, and
so every vendor provider, is one; a middleware stack is not (a batch is not a call). A
`BatchVendor` is one vendor's batch API as pure functions over that target.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from msgspec.structs import replace

from ashford_llm.batch._types import BatchLimits, VendorBatch, VendorBatchStatus
from ashford_llm.errors import BatchItemNotRunError, LLMError, ResponseDecodeError
from ashford_llm.providers._http import decode_json
from ashford_llm.providers.dialect import Dialect
from ashford_llm.types import CompletionResponse

__all__ = [
    "BatchTarget",
    "BatchVendor",
    "Outcome",
    "batch_status",
    "decode_answer",
    "not_run",
    "same_origin",
]

T = TypeVar("T")

Outcome = tuple[str, "CompletionResponse | LLMError"]
"""One item's result: its custom id, and the answer or the typed error."""


class BatchTarget(Protocol):
    """A vendor provider, as the batch API uses it (HTTPProvider is one)."""

    @property
    def dialect(self) -> Dialect:
        """The vendor's wire format for one model."""
        ...

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Sends one request with the provider's client and key; raises typed errors."""
        ...


class BatchVendor(Protocol):
    """One vendor's batch API.

    `limits` are the vendor's documented ones; `custom_id` the ids it accepts;
    `item_size` what one item adds to the file or body the limits bound.
    """

    limits: BatchLimits
    custom_id: re.Pattern[str]

    def item_size(self, custom_id: str, body: bytes) -> int:
        """Returns the bytes one item takes in the vendor's file or create body."""
        ...

    async def create(
        self, target: BatchTarget, items: Sequence[tuple[str, bytes]], *, name: str
    ) -> VendorBatch:
        """Creates one vendor batch (uploading its input first where the vendor needs it)."""
        ...

    async def poll(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Reads the vendor batch's state and counts."""
        ...

    def results(
        self,
        target: BatchTarget,
        batch: VendorBatch,
        status: VendorBatchStatus,
        created_at: float,
    ) -> AsyncIterator[Outcome]:
        """Yields the outcome of every item the vendor reports, once the batch ended."""
        ...

    async def cancel(self, target: BatchTarget, batch: VendorBatch) -> VendorBatchStatus:
        """Asks the vendor to cancel the batch; returns its state after the request."""
        ...


async def batch_status(
    target: BatchTarget,
    method: str,
    url: str,
    decoder: msgspec.json.Decoder[T],
    status: Callable[[T], VendorBatchStatus],
) -> VendorBatchStatus:
    """Sends one request answered by a batch object (a read, a cancel) and returns its status.

    `decoder` reads the vendor's batch object and `status` maps it to ours; both stay in the
    vendor's module with the rest of its wire format.
    """
    response = await target.send(method, url)
    return status(
        decode_json(decoder, response.content, provider=target.dialect.name, what="a batch")
    )


def decode_answer(
    dialect: Dialect, body: bytes, *, created_at: float, request_id: str | None
) -> CompletionResponse | LLMError:
    """Decodes one item's answer with the dialect, as a live call would, marked as batch.

    `latency_ms` is the time from submit to collection; a body the dialect refuses (no
    text, a filter's block, a bad body) is that typed error.
    """
    latency_ms = max(time.time() - created_at, 0.0) * 1000.0
    try:
        response = dialect.decode(body, latency_ms=latency_ms, request_id=request_id)
    except LLMError as error:
        error.provider = error.provider or dialect.name
        error.request_id = error.request_id or request_id
        return error
    return replace(response, batch=True)


def same_origin(url: str, base_url: str, *, provider: str) -> str:
    """Returns `url` (made absolute on `base_url`) if it is on the API's own origin.

    A results or upload URL comes from the vendor's answer; the key is sent with it, so a URL
    on another scheme, host or port is refused rather than followed.
    """
    if not url.startswith(("http://", "https://")):
        return base_url.rstrip("/") + "/" + url.lstrip("/")
    given, base = urlsplit(url), urlsplit(base_url)
    if (given.scheme, given.hostname, given.port) != (base.scheme, base.hostname, base.port):
        raise ResponseDecodeError(
            f"the vendor named a URL on another origin ({given.scheme}://{given.netloc}); "
            "the key is not sent there",
            provider=provider,
        )
    return url


def not_run(provider: str, reason: str, custom_id: str) -> BatchItemNotRunError:
    """Returns the retryable error of an item its batch never ran ("expired", "cancelled")."""
    return BatchItemNotRunError(
        f"batch item {custom_id!r} was not run: the batch {reason}",
        provider=provider,
        error_code=reason,
    )
