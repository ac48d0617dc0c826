"""Test doubles: terminal handlers to put under a stack instead of a real vendor."""

from ashford_llm.testing.mock import MockProvider, MockStream, ScriptExhaustedError

__all__ = ["MockProvider", "MockStream", "ScriptExhaustedError"]
