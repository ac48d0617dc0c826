"""pytest plugin (registered by the package's entry point): `mock_llm` and `fake_llm_server`.

Both fixtures are factories, so one test can build several doubles with different scripts;
docs/testing.md shows each in use. Nothing heavy is imported here; fixtures import what they
need when used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from ashford_llm.testing.mock import MockProvider, Script

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server import FakeProviderServer


@pytest.fixture
def mock_llm() -> Callable[..., MockProvider]:
    """Returns a factory: each `mock_llm(["answer", RateLimitError(...)])` is a new MockProvider.

    The script's answers are used in order; `mock.requests` keeps what each call sent.
    """

    def factory(script: Script, **options: Any) -> MockProvider:
        return MockProvider(script, **options)

    return factory


@pytest.fixture
def fake_llm_server() -> Callable[..., FakeProviderServer]:
    """Returns a factory: each `fake_llm_server(script=[Fault.rate_limit])` is a new server.

    Use it in-process (`server.transport()`, `server.base_url("openai")`) or over a socket
    (`async with server.run() as running`); it accepts any non-empty key unless `api_key=`
    names one. Needs the `testing` extra (starlette, uvicorn).
    """
    from ashford_llm.testing.fake_server import FakeProviderServer

    def factory(**options: Any) -> FakeProviderServer:
        return FakeProviderServer(**options)

    return factory
