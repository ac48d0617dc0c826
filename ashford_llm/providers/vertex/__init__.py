"""Vertex AI: Gemini and Claude through Google Cloud, authenticated with Google tokens."""

from ashford_llm.providers.vertex.auth import GoogleAuthCredentials
from ashford_llm.providers.vertex.dialect import (
    VertexAnthropicDialect,
    VertexAnthropicProvider,
    VertexGeminiDialect,
    VertexGeminiProvider,
    vertex_provider,
)

__all__ = [
    "GoogleAuthCredentials",
    "VertexAnthropicDialect",
    "VertexAnthropicProvider",
    "VertexGeminiDialect",
    "VertexGeminiProvider",
    "vertex_provider",
]
