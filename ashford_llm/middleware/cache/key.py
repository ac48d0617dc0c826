"""The cache key: a SHA-256 of everything that can change the answer, canonically encoded.

A key covers the terminal's description as `info` gives it (provider name, vendor, server
address, model, and the default temperature and output budget it sends for a request that
sets none) and the whole request in its recorded form (`RecordedRequest.of`): every message
with its parts in order (text, reasoning with signatures, tool calls and results, cache
points; an image or document given as bytes by the SHA-256, size, media type and name of its
bytes, one given by URL by its URL), and every option (temperature, max_tokens, json_mode,
json_schema, stop, top_p, seed, reasoning, vendor_options, tools by name, description,
schema and strictness, tool_choice, parallel_tool_calls). Dict keys are sorted before
hashing, so two equal requests built in a different order share a key. `KEY_VERSION` is
hashed too: a change to the key or to the stored format changes every key, so old entries
are never misread.
"""

from __future__ import annotations

import hashlib

import msgspec

from ashford_llm.cassette import RecordedRequest
from ashford_llm.protocol import ProviderInfo
from ashford_llm.types import CompletionRequest

__all__ = ["KEY_VERSION", "cache_key"]

KEY_VERSION = 1


class _Keyed(msgspec.Struct, frozen=True, kw_only=True):
    """What one cache key is the hash of."""

    version: int
    provider: str
    vendor: str | None
    server: str | None
    model: str | None
    default_temperature: float | None
    default_max_tokens: int | None
    request: RecordedRequest


_ENCODER = msgspec.json.Encoder(order="sorted")


def cache_key(request: CompletionRequest, info: ProviderInfo) -> str:
    """Returns the hex SHA-256 key of a request sent to the terminal `info` describes."""
    keyed = _Keyed(
        version=KEY_VERSION,
        provider=info.name,
        vendor=info.otel_provider_name,
        server=info.server_address,
        model=info.model,
        default_temperature=info.temperature,
        default_max_tokens=info.max_output_tokens,
        request=RecordedRequest.of(request),
    )
    return hashlib.sha256(_ENCODER.encode(keyed)).hexdigest()
