"""OpenAI Chat Completions: the dialect (requests), answers and streams, error objects."""

from ashford_llm.providers.openai.dialect import OpenAIDialect, OpenAIProvider

__all__ = ["OpenAIDialect", "OpenAIProvider"]
