"""OpenAI Chat Completions: the dialect (requests), answers and streams, error objects."""

from ashford_llm.providers.openai.compatible import OpenAICompatibleProvider
from ashford_llm.providers.openai.dialect import OpenAIDialect, OpenAIProvider

__all__ = ["OpenAICompatibleProvider", "OpenAIDialect", "OpenAIProvider"]
