"""A tiny HTTP/1.1 server on 127.0.0.1 that answers from a script, for socket-level tests.

Each request takes the next `Answer`: a status, headers and a body sent whole, or SSE chunks
sent one by one (chunked encoding) before it either ends the body or holds the connection
open until the client closes it. `hang=True` reads the request and never answers. The
server counts open connections and keeps the headers it received, so tests can prove that a
cancelled call closed its socket and what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

__all__ = ["Answer", "LoopbackServer", "loopback", "sse_answer"]

WAIT_LIMIT_S = 10.0
"""The longest the server waits for a client to close; every loop here is bounded."""


@dataclass(frozen=True)
class Answer:
    """One scripted answer: whole `body`, or `chunks` then (unless `hold`) the end."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    chunks: Sequence[bytes] = ()
    hold: bool = False
    hang: bool = False


def sse_answer(events: Sequence[str], *, hold: bool = False) -> Answer:
    """An event-stream answer sending each SSE event (already framed) as its own chunk."""
    return Answer(
        headers=[("content-type", "text/event-stream")],
        chunks=[event.encode() for event in events],
        hold=hold,
    )


@dataclass
class LoopbackServer:
    """The running server: its URL, what it received and its open connections."""

    script: list[Answer]
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    open_connections: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.writers.add(writer)
        self.open_connections += 1
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away: that is what the tests provoke
        finally:
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Reads one request and answers it; returns False when the client closed."""
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return False
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(headers)
        self.received.set()
        answer = self.script.pop(0) if self.script else Answer(status=500, body=b"script exhausted")
        if answer.hang:
            await self._wait_for_eof(reader)
            return False
        reason = b"OK" if answer.status < 400 else b"Error"
        out = [b"HTTP/1.1 %d %s\r\n" % (answer.status, reason)]
        out += [f"{name}: {value}\r\n".encode() for name, value in answer.headers]
        if answer.chunks:
            writer.write(b"".join(out) + b"transfer-encoding: chunked\r\n\r\n")
            for chunk in answer.chunks:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                await asyncio.sleep(0)
            self.answered.set()
            if answer.hold:
                await self._wait_for_eof(reader)
                return False
            writer.write(b"0\r\n\r\n")
        else:
            out.append(b"content-length: %d\r\n\r\n" % len(answer.body))
            writer.write(b"".join(out) + answer.body)
            self.answered.set()
        await writer.drain()
        return True

    async def _wait_for_eof(self, reader: asyncio.StreamReader) -> None:
        """Holds the connection until the client closes it (bounded by WAIT_LIMIT_S)."""
        async with asyncio.timeout(WAIT_LIMIT_S):
            while await reader.read(1024):
                pass


@contextlib.asynccontextmanager
async def loopback(script: Sequence[Answer]) -> AsyncIterator[LoopbackServer]:
    """Runs a LoopbackServer on a free 127.0.0.1 port for the duration of the block."""
    server = LoopbackServer(list(script))
    listener = await asyncio.start_server(server._handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for writer in server.writers:
            writer.close()  # a handler waiting for the next request sees the end and returns
        async with asyncio.timeout(WAIT_LIMIT_S):
            await asyncio.gather(*server.handlers)
        await listener.wait_closed()
