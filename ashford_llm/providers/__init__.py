"""Terminal handlers that speak each vendor's HTTP API."""

from ashford_llm.providers.anthropic import AnthropicProvider

__all__ = ["AnthropicProvider"]
