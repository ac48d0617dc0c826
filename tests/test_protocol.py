"""The provider interface and the AsyncCloseable mixin its implementations share."""

from __future__ import annotations

import pytest

from ashford_llm import ModelConfig
from ashford_llm.middleware import Middleware
from ashford_llm.protocol import AsyncCloseable, LLMProvider
from ashford_llm.providers import OpenAIProvider
from ashford_llm.testing import MockProvider, Replay


class Resource(AsyncCloseable):
    """Counts how often it was closed."""

    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_async_with_returns_the_object_and_closes_it() -> None:
    resource = Resource()
    async with resource as entered:
        assert entered is resource
        assert resource.closed == 0
    assert resource.closed == 1


async def test_async_with_closes_on_error_and_lets_the_error_through() -> None:
    resource = Resource()
    with pytest.raises(KeyError):
        async with resource:
            raise KeyError("boom")
    assert resource.closed == 1


async def test_providers_layers_and_doubles_share_the_mixin() -> None:
    mock = MockProvider(["hi"])
    handlers: list[LLMProvider] = [
        mock,
        Middleware(mock),
        Replay([]),
        OpenAIProvider(ModelConfig("openai", "gpt-4o-mini"), api_key="sk-test-1234567890"),
    ]
    for handler in handlers:
        assert isinstance(handler, AsyncCloseable), type(handler).__name__
        assert "__aexit__" not in vars(type(handler)), type(handler).__name__
        await handler.aclose()
