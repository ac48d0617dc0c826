"""A loopback HTTP/1.1 server for the benchmarks: canned vendor answers, as fast as it can.

A bare asyncio Protocol (keep-alive, pipelining-safe, no framework), so the server costs a
small share of each call and the clients are what is measured. Routes:

- `POST .../chat/completions`: the OpenAI completion, or its stream when the body asks for one;
- `POST .../messages`: the Anthropic message, or its stream.

Run `python benchmarks/server.py [--cpu N]`: it listens on 127.0.0.1 on a free port and prints
`PORT <n>` once it is ready; `--cpu` pins it to one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from bodies import ANTHROPIC_COMPLETION, ANTHROPIC_STREAM, OPENAI_COMPLETION, OPENAI_STREAM


def _response(body: bytes, content_type: str, request_id_header: str) -> bytes:
    """Returns a whole HTTP/1.1 response, headers and body."""
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"content-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n"
        f"{request_id_header}: req_0123456789abcdef\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
ROUTES = {
    (b"chat/completions", False): _response(OPENAI_COMPLETION, _JSON, "x-request-id"),
    (b"chat/completions", True): _response(OPENAI_STREAM, _SSE, "x-request-id"),
    (b"messages", False): _response(ANTHROPIC_COMPLETION, _JSON, "request-id"),
    (b"messages", True): _response(ANTHROPIC_STREAM, _SSE, "request-id"),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"


def _wants_stream(body: bytes) -> bool:
    """Says whether a JSON request body sets `"stream": true`."""
    return b'"stream":true' in body or b'"stream": true' in body


class CannedHTTP(asyncio.Protocol):
    """Answers each request on a connection with its canned response."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                    break
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            route = b"chat/completions" if path.endswith(b"chat/completions") else path
            if path.endswith(b"/messages"):
                route = b"messages"
            answer = ROUTES.get((route, _wants_stream(body)), NOT_FOUND)
            assert self.transport is not None
            self.transport.write(answer)


async def serve(cpu: int | None) -> None:
    """Listens on 127.0.0.1, prints the port, serves until stdin closes (or until killed)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedHTTP, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stop = loop.create_future()
    # When stdin is a file such as /dev/null it cannot be watched: serve until killed.
    with contextlib.suppress(PermissionError):
        loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


def main() -> None:
    """Parses the options and serves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this core")
    asyncio.run(serve(parser.parse_args().cpu))


if __name__ == "__main__":
    main()
