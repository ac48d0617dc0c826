"""pytest plugin (registered by the package's entry point): the `mock_llm` fixture.

Nothing heavy is imported here; fixtures import what they need when used.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ashford_llm.testing.mock import MockProvider, Script


@pytest.fixture
def mock_llm() -> Callable[..., MockProvider]:
    """Returns a factory: `mock_llm(["answer", RateLimitError(...)])` gives a MockProvider."""

    def factory(script: Script, **options: str) -> MockProvider:
        return MockProvider(script, **options)

    return factory
