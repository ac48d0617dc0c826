"""Gemini generateContent: the dialect (requests), answers and streams, error objects."""

from ashford_llm.providers.google.dialect import GoogleDialect, GoogleProvider

__all__ = ["GoogleDialect", "GoogleProvider"]
