"""Providers for the batch tests: each vendor's provider over a fake server, in process."""

from __future__ import annotations

import importlib
from typing import Any

import httpx

from ashford_llm.config import ModelConfig
from ashford_llm.testing import FakeProviderServer

PROVIDERS = {
    "openai": ("ashford_llm.providers.openai", "OpenAIProvider", "openai"),
    "anthropic": ("ashford_llm.providers.anthropic", "AnthropicProvider", "anthropic"),
    "gemini": ("ashford_llm.providers.google", "GoogleProvider", "google"),
}


def provider_for(
    vendor: str, client: httpx.AsyncClient, base_url: str, *, model: str = "model-1"
) -> Any:
    """Builds the vendor's provider with a test key on the given client and base URL."""
    module_name, class_name, name = PROVIDERS[vendor]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(
        ModelConfig(provider=name, model=model),
        api_key="test-key",
        base_url=base_url,
        http_client=client,
    )


def fake_provider(vendor: str, server: FakeProviderServer, client: httpx.AsyncClient) -> Any:
    """Builds the vendor's provider for an in-process fake server."""
    return provider_for(vendor, client, server.base_url(vendor))
