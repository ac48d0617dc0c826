"""Test doubles: terminal handlers to put under a stack instead of a real vendor."""

from ashford_llm.testing.cassette import Cassette
from ashford_llm.testing.mock import MockProvider, MockStream, ScriptExhaustedError
from ashford_llm.testing.replay import Replay, ReplayMismatchError

__all__ = [
    "Cassette",
    "MockProvider",
    "MockStream",
    "Replay",
    "ReplayMismatchError",
    "ScriptExhaustedError",
]
