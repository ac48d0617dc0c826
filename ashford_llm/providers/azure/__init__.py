"""Azure OpenAI: Chat Completions at an Azure resource (v1 or deployment URLs), key or Entra ID."""

from ashford_llm.providers.azure.dialect import AzureOpenAIDialect, AzureOpenAIProvider
from ashford_llm.providers.azure.entra import EntraIDCredentials

__all__ = ["AzureOpenAIDialect", "AzureOpenAIProvider", "EntraIDCredentials"]
