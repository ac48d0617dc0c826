"""Before anything is sent: picking the vendor's batch API, checking and encoding, splitting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ashford_llm.batch._types import BatchHandle, BatchLimits, Vendor
from ashford_llm.batch._vendor import BatchTarget, BatchVendor
from ashford_llm.batch.anthropic import AnthropicBatches
from ashford_llm.batch.gemini import GeminiBatches
from ashford_llm.batch.openai import OpenAIBatches
from ashford_llm.errors import InvalidRequestError, LLMError
from ashford_llm.providers.anthropic.dialect import AnthropicDialect
from ashford_llm.providers.google.dialect import GoogleDialect
from ashford_llm.providers.openai.dialect import OpenAIDialect
from ashford_llm.types import CompletionRequest

__all__ = ["encoded", "resumed", "split", "vendor_for"]


def vendor_for(provider: Any, limits: BatchLimits | None = None) -> tuple[Vendor, BatchVendor]:
    """Picks the batch API of the provider's dialect; refuses what is not a vendor provider."""
    dialect = getattr(provider, "dialect", None)
    if dialect is None or not callable(getattr(provider, "send", None)):
        raise TypeError(
            "the batch API needs a vendor provider (OpenAIProvider, AnthropicProvider, "
            f"GoogleProvider), not {type(provider).__name__}: a middleware stack wraps calls, "
            "and a batch is not a call"
        )
    if isinstance(dialect, OpenAIDialect):
        return "openai", OpenAIBatches(dialect.base_url, limits=limits)
    if isinstance(dialect, AnthropicDialect):
        return "anthropic", AnthropicBatches(dialect.base_url, limits=limits)
    if isinstance(dialect, GoogleDialect):
        return "google", GeminiBatches(
            dialect.base_url, dialect.api_version, dialect.model, limits=limits
        )
    raise TypeError(f"no batch API for the dialect {type(dialect).__name__}")


def resumed(handle: BatchHandle, provider: Any) -> BatchVendor:
    """Checks that the provider speaks the handle's vendor and model; returns its batch API."""
    if not isinstance(handle, BatchHandle):
        raise TypeError(f"handle must be a BatchHandle, got {type(handle).__name__}")
    vendor_name, vendor = vendor_for(provider)
    if vendor_name != handle.vendor or provider.dialect.model != handle.model:
        raise ValueError(
            f"the handle is for {handle.vendor} model {handle.model!r}, but the provider "
            f"speaks {vendor_name} model {provider.dialect.model!r}"
        )
    return vendor


def split(
    vendor: BatchVendor, items: list[tuple[str, bytes]], sizes: list[int]
) -> list[list[tuple[str, bytes]]]:
    """Splits the items, in order, into chunks within the vendor's count and size limits."""
    limits = vendor.limits
    budget = max(limits.max_bytes - 1024, 1)  # room for the create body around the items
    chunks: list[list[tuple[str, bytes]]] = [[]]
    used = 0
    for item, size in zip(items, sizes, strict=True):
        chunk = chunks[-1]
        if chunk and (len(chunk) >= limits.max_requests or used + size > budget):
            chunks.append([])
            chunk, used = chunks[-1], 0
        chunk.append(item)
        used += size
    return chunks


def encoded(
    provider: BatchTarget, vendor: BatchVendor, requests: Mapping[str, CompletionRequest]
) -> tuple[list[tuple[str, bytes]], list[int]]:
    """Checks every id and request and encodes each body as a live call would; sends nothing."""
    if not isinstance(requests, Mapping):
        raise TypeError("requests must be a mapping of custom ids to CompletionRequests")
    if not requests:
        raise ValueError("a batch needs at least one request")
    dialect = provider.dialect
    budget = vendor.limits.max_bytes - 1024
    items: list[tuple[str, bytes]] = []
    sizes: list[int] = []
    for custom_id, request in requests.items():
        if not isinstance(custom_id, str) or not vendor.custom_id.fullmatch(custom_id):
            raise InvalidRequestError(
                f"custom id {custom_id!r} is not one {dialect.name} accepts "
                f"(pattern {vendor.custom_id.pattern})",
                provider=dialect.name,
            )
        if not isinstance(request, CompletionRequest):
            raise TypeError(
                f"request {custom_id!r} must be a CompletionRequest, got {type(request).__name__}"
            )
        try:
            body = dialect.encode(request, stream=False)
        except LLMError as error:
            error.provider = error.provider or dialect.name
            error.message = f"request {custom_id!r}: {error.message}"
            error.args = (error.message,)
            raise
        size = vendor.item_size(custom_id, body)
        if size > budget:
            raise InvalidRequestError(
                f"request {custom_id!r} alone is {size} bytes, over the {budget}-byte limit of "
                f"one {dialect.name} batch",
                provider=dialect.name,
            )
        items.append((custom_id, body))
        sizes.append(size)
    return items, sizes
