"""A loopback HTTP/1.1 server for the benchmarks: canned vendor answers, as fast as it can.

A bare asyncio Protocol (keep-alive, pipelining-safe, no framework), so the server costs a
small share of each call and the clients are what is measured. Routes:

- `POST .../chat/completions`: the OpenAI completion, or its stream when the body asks for one;
- `POST .../messages`: the Anthropic message, or its stream.

Run `python benchmarks/server.py [--cpu N] [--uvicorn]`: it listens on 127.0.0.1 on a free port
and prints `PORT <n>` once it is ready; `--cpu` pins it to one core. `--uvicorn` serves the
same canned answers as a plain ASGI app under uvicorn (a second, production-style server, so a
figure that holds on both is not an artefact of one server's behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

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


async def canned_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same routes as CannedHTTP, as an ASGI app (for uvicorn)."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    path = scope["path"]
    if path.endswith("/chat/completions"):
        raw = ROUTES[(b"chat/completions", _wants_stream(body))]
    elif path.endswith("/messages"):
        raw = ROUTES[(b"messages", _wants_stream(body))]
    else:
        raw = NOT_FOUND
    head, _, content = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in lines[1:])
        if name.strip().lower() != b"connection"
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def serve_uvicorn(cpu: int | None) -> None:
    """Serves `canned_asgi` with uvicorn on 127.0.0.1 until stdin closes (or until killed)."""
    import socket

    import uvicorn

    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        canned_asgi,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=1024,
        timeout_keep_alive=120,  # longer than any pause of a run: no closes mid-run
    )
    server = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(PermissionError):
        loop.add_reader(sys.stdin.fileno(), lambda: setattr(server, "should_exit", True))
    await server.serve(sockets=[sock])


def main() -> None:
    """Parses the options and serves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this core")
    parser.add_argument("--uvicorn", action="store_true", help="serve with uvicorn (ASGI)")
    args = parser.parse_args()
    asyncio.run(serve_uvicorn(args.cpu) if args.uvicorn else serve(args.cpu))


if __name__ == "__main__":
    main()
