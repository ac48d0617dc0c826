"""Tracing: OpenTelemetry spans and GenAI metrics per call (`layer`), what one call records
(`call`), and the opt-in message content in the conventions' shapes (`content`)."""

from ashford_llm.middleware.tracing.layer import Tracing

__all__ = ["Tracing"]
