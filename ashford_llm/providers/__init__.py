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
    from ashford_llm.providers.azure import (
        AzureOpenAIDialect,
        AzureOpenAIProvider,
        EntraIDCredentials,
    )
    from ashford_llm.providers.bedrock import BedrockDialect, BedrockProvider
    from ashford_llm.providers.dialect import Dialect, StreamDecoder
    from ashford_llm.providers.google import GoogleDialect, GoogleProvider
    from ashford_llm.providers.openai import (
        OpenAICompatibleProvider,
        OpenAIDialect,
        OpenAIProvider,
    )
    from ashford_llm.providers.profiles import BUILTIN_PROFILES, Profile
    from ashford_llm.providers.provider import HTTPProvider
    from ashford_llm.providers.transports import aiohttp_client
    from ashford_llm.providers.vertex import (
        GoogleAuthCredentials,
        VertexAnthropicProvider,
        VertexGeminiProvider,
    )

__all__ = [
    "BUILTIN_PROFILES",
    "AnthropicDialect",
    "AnthropicProvider",
    "AzureOpenAIDialect",
    "AzureOpenAIProvider",
    "BedrockDialect",
    "BedrockProvider",
    "Credentials",
    "Dialect",
    "EntraIDCredentials",
    "EnvCredentials",
    "GoogleAuthCredentials",
    "GoogleDialect",
    "GoogleProvider",
    "HTTPProvider",
    "OpenAICompatibleProvider",
    "OpenAIDialect",
    "OpenAIProvider",
    "Profile",
    "RequestSigner",
    "StaticCredentials",
    "StreamDecoder",
    "VertexAnthropicProvider",
    "VertexGeminiProvider",
    "aiohttp_client",
]

_LAZY = {
    "BUILTIN_PROFILES": "ashford_llm.providers.profiles",
    "AnthropicDialect": "ashford_llm.providers.anthropic",
    "AnthropicProvider": "ashford_llm.providers.anthropic",
    "AzureOpenAIDialect": "ashford_llm.providers.azure",
    "AzureOpenAIProvider": "ashford_llm.providers.azure",
    "EntraIDCredentials": "ashford_llm.providers.azure",
    "BedrockDialect": "ashford_llm.providers.bedrock",
    "BedrockProvider": "ashford_llm.providers.bedrock",
    "Dialect": "ashford_llm.providers.dialect",
    "GoogleAuthCredentials": "ashford_llm.providers.vertex",
    "GoogleDialect": "ashford_llm.providers.google",
    "GoogleProvider": "ashford_llm.providers.google",
    "HTTPProvider": "ashford_llm.providers.provider",
    "OpenAICompatibleProvider": "ashford_llm.providers.openai",
    "OpenAIDialect": "ashford_llm.providers.openai",
    "OpenAIProvider": "ashford_llm.providers.openai",
    "Profile": "ashford_llm.providers.profiles",
    "StreamDecoder": "ashford_llm.providers.dialect",
    "VertexAnthropicProvider": "ashford_llm.providers.vertex",
    "VertexGeminiProvider": "ashford_llm.providers.vertex",
    "aiohttp_client": "ashford_llm.providers.transports",
}

__getattr__ = _lazy.lazy_getattr(__name__, _LAZY)
