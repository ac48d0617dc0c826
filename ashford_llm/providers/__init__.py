"""Terminal handlers that speak each vendor's HTTP API.

One concrete `HTTPProvider` is driven by a per-vendor `Dialect` (the wire format);
`OpenAIProvider`, `AnthropicProvider`, `GoogleProvider` and `BedrockProvider` build theirs
from their options.
The classes load on first use, so `import ashford_llm` does not import httpx (which itself
imports rich whenever rich is installed). To add a provider, name it in `_LAZY` and `__all__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ashford_llm import _lazy
from ashford_llm.providers.credentials import (
    Credentials,
    EnvCredentials,
    RequestSigner,
    StaticCredentials,
)

if TYPE_CHECKING:
    from ashford_llm.providers.anthropic import AnthropicDialect, AnthropicProvider
    from ashford_llm.providers.bedrock import BedrockDialect, BedrockProvider
    from ashford_llm.providers.dialect import Dialect, StreamDecoder
    from ashford_llm.providers.google import GoogleDialect, GoogleProvider
    from ashford_llm.providers.openai import OpenAIDialect, OpenAIProvider
    from ashford_llm.providers.provider import HTTPProvider
    from ashford_llm.providers.transports import aiohttp_client

__all__ = [
    "AnthropicDialect",
    "AnthropicProvider",
    "BedrockDialect",
    "BedrockProvider",
    "Credentials",
    "Dialect",
    "EnvCredentials",
    "GoogleDialect",
    "GoogleProvider",
    "HTTPProvider",
    "OpenAIDialect",
    "OpenAIProvider",
    "RequestSigner",
    "StaticCredentials",
    "StreamDecoder",
    "aiohttp_client",
]

_LAZY = {
    "AnthropicDialect": "ashford_llm.providers.anthropic",
    "AnthropicProvider": "ashford_llm.providers.anthropic",
    "BedrockDialect": "ashford_llm.providers.bedrock",
    "BedrockProvider": "ashford_llm.providers.bedrock",
    "Dialect": "ashford_llm.providers.dialect",
    "GoogleDialect": "ashford_llm.providers.google",
    "GoogleProvider": "ashford_llm.providers.google",
    "HTTPProvider": "ashford_llm.providers.provider",
    "OpenAIDialect": "ashford_llm.providers.openai",
    "OpenAIProvider": "ashford_llm.providers.openai",
    "StreamDecoder": "ashford_llm.providers.dialect",
    "aiohttp_client": "ashford_llm.providers.transports",
}

__getattr__ = _lazy.lazy_getattr(__name__, _LAZY)
