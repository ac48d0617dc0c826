"""Anthropic Messages: the dialect (requests), answers and streams, error objects."""

from ashford_llm.providers.anthropic.dialect import AnthropicDialect, AnthropicProvider

__all__ = ["AnthropicDialect", "AnthropicProvider"]
