"""Running the fake server over a real socket under uvicorn (in this loop, or blocking)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ashford_llm.testing.fake_server.faults import Fault, Outage

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server.app import FakeProviderServer

__all__ = ["RunningServer", "run", "serve"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# Longer than any client's idle-connection expiry (ours is 30 s): a server that closes an idle
# connection first races the client reusing it, and the request dies unseen (nginx uses 75 s).
KEEP_ALIVE_S = 75


@dataclass(frozen=True)
class RunningServer:
    """A fake server listening on a socket: where it is, and the server for its stats."""

    server: FakeProviderServer
    host: str
    port: int

    @property
    def url(self) -> str:
        """The root URL, e.g. http://127.0.0.1:8089."""
        return f"http://{self.host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """Returns the base URL a vendor's provider takes."""
        from ashford_llm.testing.fake_server.app import base_url

        return base_url(self.url, vendor)


@asynccontextmanager
async def run(
    server: FakeProviderServer, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningServer]:
    """Serves `server` under uvicorn in the running event loop; port 0 picks a free port.

    Stops on exit: open streams get `_STOP_TIMEOUT` seconds, then the task is cancelled.
    """
    import uvicorn

    config = uvicorn.Config(
        server,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve(), name="fake-provider-server")
    try:
        async with asyncio.timeout(_START_TIMEOUT):
            while not uvicorn_server.started:
                if task.done():
                    task.result()  # raises why it could not start
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.01)
        bound_port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(server=server, host=host, port=int(bound_port))
    finally:
        uvicorn_server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), _STOP_TIMEOUT)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8089,
    fault_rate: float = 0.0,
    seed: int | None = None,
    faults: Mapping[Fault | str, float] | None = None,
    api_key: str | None = None,
    log_level: str = "info",
    outages: Iterable[Outage] = (),
) -> None:
    """Runs a fake server until interrupted (what `ashford-llm fake-server` calls).

    `api_key=None` accepts any non-empty key; rates and seed make the FaultPlan; `outages`
    make vendors fail every request for a while.
    """
    import uvicorn

    from ashford_llm.testing.fake_server.app import FakeProviderServer

    server = FakeProviderServer(
        api_key=api_key, fault_rate=fault_rate, faults=faults, seed=seed, outages=outages
    )
    uvicorn.run(
        server,
        host=host,
        port=port,
        lifespan="off",
        log_level=log_level,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
