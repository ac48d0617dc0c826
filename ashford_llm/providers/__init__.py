"""Terminal handlers that speak each vendor's HTTP API."""

from ashford_llm.providers.anthropic import AnthropicProvider
from ashford_llm.providers.openai import OpenAIProvider

__all__ = ["AnthropicProvider", "OpenAIProvider"]
