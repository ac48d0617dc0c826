from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest

from ashford_llm.testing import FakeProviderServer

OpenClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(params=["asgi", "socket"])
async def open_client(request: pytest.FixtureRequest) -> AsyncIterator[OpenClient]:
    """Opens clients on a server, in-process (ASGITransport) or over a real 127.0.0.1 socket."""
    async with AsyncExitStack() as stack:

        async def open_(
            server: FakeProviderServer, vendor: str, seconds: float = 10.0
        ) -> httpx.AsyncClient:
            if request.param == "asgi":
                client = httpx.AsyncClient(
                    transport=server.transport(), base_url=server.base_url(vendor), timeout=seconds
                )
            else:
                running = await stack.enter_async_context(server.run())
                client = httpx.AsyncClient(base_url=running.base_url(vendor), timeout=seconds)
            return await stack.enter_async_context(client)

        yield open_
