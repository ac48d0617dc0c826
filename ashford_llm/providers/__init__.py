"""Terminal handlers that speak each vendor's HTTP API.

The classes load on first use, so `import ashford_llm` does not import httpx (which itself
imports rich whenever rich is installed). To add a provider, name it in `_LAZY` and `__all__`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ashford_llm.providers.credentials import Credentials, EnvCredentials, StaticCredentials

if TYPE_CHECKING:
    from ashford_llm.providers.anthropic import AnthropicProvider
    from ashford_llm.providers.google import GoogleProvider
    from ashford_llm.providers.openai import OpenAIProvider
    from ashford_llm.providers.transports import aiohttp_client

__all__ = [
    "AnthropicProvider",
    "Credentials",
    "EnvCredentials",
    "GoogleProvider",
    "OpenAIProvider",
    "StaticCredentials",
    "aiohttp_client",
]

_LAZY = {
    "AnthropicProvider": "ashford_llm.providers.anthropic",
    "GoogleProvider": "ashford_llm.providers.google",
    "OpenAIProvider": "ashford_llm.providers.openai",
    "aiohttp_client": "ashford_llm.providers.transports",
}


def __getattr__(name: str) -> Any:
    """Imports a provider class (or the transport helper) the first time it is looked up."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
