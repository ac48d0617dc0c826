"""FakeProviderServer: the ASGI app speaking OpenAI, Anthropic, Gemini and Vertex, with faults."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, Router

from ashford_llm.testing.fake_server import anthropic, azure, bedrock, gemini, openai, vertex
from ashford_llm.testing.fake_server.answers import (
    Answer,
    AnswerFunction,
    AnswerRequest,
    PromptCache,
    echo,
    make_answer,
)
from ashford_llm.testing.fake_server.batches import BatchOptions, FakeBatches
from ashford_llm.testing.fake_server.faults import (
    ATTEMPT_HEADER,
    Fault,
    FaultPlan,
    Outage,
    OutageSchedule,
    ServedRecord,
    ServerStats,
    StatsCounter,
)
from ashford_llm.testing.fake_server.streams import BROKEN_STREAM, shape_stream
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, VendorFormat

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server.serve import RunningServer

__all__ = ["FakeProviderServer"]

IN_PROCESS_ROOT = "http://fake-llm.test"
_VENDOR_PATHS = {
    "openai": "/v1",
    "anthropic": "",
    "gemini": "",
    "google": "",
    "vertex": "",
    "azure": "",
    "bedrock": "",
}
_STATUS_FAULTS = frozenset(
    {
        Fault.rate_limit,
        Fault.quota_exhausted,
        Fault.server_error,
        Fault.unavailable,
        Fault.overloaded,
    }
)
_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class _Seen(NamedTuple):
    """Who a request was for and how the client and server named it, for its record."""

    vendor: str
    attempt: str | None
    request_id: str


class _DropConnection(Exception):
    """Raised by a handler to close the connection without any response."""


def base_url(root: str, vendor: str) -> str:
    """Returns the base URL a vendor's provider takes, for a server at `root`."""
    if vendor not in _VENDOR_PATHS:
        raise ValueError(f"unknown vendor {vendor!r}; expected openai, anthropic, gemini or vertex")
    return root.rstrip("/") + _VENDOR_PATHS[vendor]


class FakeProviderServer:
    """An ASGI app speaking the three vendors' wire formats, with scripted or seeded faults.

    `api_key` is the one key accepted; the default None accepts any non-empty key, as
    `ashford-llm fake-server` does (a request without a key still gets the vendor's 401/403).
    `answer` turns each request into text (default `echo`); `script`, `fault_rate`, `faults`
    and `seed` make the FaultPlan. `retry_after` is the wait a rate-limit fault asks for,
    `slow_seconds` the delay before a slow first byte, `stall_seconds` the pause inside a
    stalled stream, `chunk_delay` the pause between stream chunks, `batch` how the batch
    APIs behave (`batches.BatchOptions`). `outages` make one vendor fail every request for a
    while (see `Outage`; `begin_outage` starts one now). The server itself is the ASGI app
    (`server.app is server`).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        answer: AnswerFunction = echo,
        script: Iterable[Fault | str | None] = (),
        fault_rate: float = 0.0,
        faults: Mapping[Fault | str, float] | None = None,
        seed: int | None = None,
        retry_after: float = 1.0,
        slow_seconds: float = 0.5,
        stall_seconds: float = 1.0,
        chunk_delay: float = 0.0,
        batch: BatchOptions | None = None,
        outages: Iterable[Outage] = (),
    ) -> None:
        if api_key is not None and not api_key:
            raise ValueError("api_key must be non-empty, or None to accept any key")
        if not callable(answer):
            raise TypeError("answer must be a function of AnswerRequest returning str")
        for option, value in (
            ("retry_after", retry_after),
            ("slow_seconds", slow_seconds),
            ("stall_seconds", stall_seconds),
            ("chunk_delay", chunk_delay),
        ):
            if value < 0:
                raise ValueError(f"{option} must be >= 0, got {value!r}")
        self._api_key = api_key
        self._answer = answer
        self._plan = FaultPlan(script=script, fault_rate=fault_rate, faults=faults, seed=seed)
        outages = tuple(outages)
        if not all(isinstance(outage, Outage) for outage in outages):
            raise TypeError("outages must be Outage values")
        self._outages = OutageSchedule(outages)
        self._retry_after = retry_after
        self._slow_seconds = slow_seconds
        self._stall_seconds = stall_seconds
        self._chunk_delay = chunk_delay
        self._counter = StatsCounter()
        self._cache = PromptCache()
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self.batches = FakeBatches(
            answer=answer, cache=self._cache, api_key=api_key, options=batch or BatchOptions()
        )
        self._router = Router(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                *self.batches.routes(),
                Route("/{version}/models/{target:path}", self._gemini, methods=["POST"]),
                *vertex.routes(self._handle),
                *azure.routes(self._handle),  # Azure OpenAI: the endpoint is the server root
                Route("/model/{target:path}", self._bedrock, methods=["POST"]),
            ]
        )

    def __repr__(self) -> str:
        return f"FakeProviderServer(requests={self._counter.snapshot().requests})"

    @property
    def app(self) -> FakeProviderServer:
        """The ASGI application (the server object itself)."""
        return self

    @property
    def stats(self) -> ServerStats:
        """A snapshot of what the server has served so far."""
        return self._counter.snapshot()

    def begin_outage(
        self, vendor: str, seconds: float, *, fault: Fault | str = Fault.unavailable
    ) -> None:
        """Makes `vendor` ("openai", "anthropic", "gemini") fail every request for `seconds`."""
        self._outages.begin(vendor, seconds, fault)

    def reset_stats(self) -> None:
        """Forgets the counters and records (the fault plan keeps its place)."""
        self._counter.reset()

    def transport(self) -> httpx.ASGITransport:
        """Returns an in-process transport (no socket); use with `base_url(vendor)`."""
        return httpx.ASGITransport(app=self)

    def base_url(self, vendor: str) -> str:
        """Returns the in-process base URL for a vendor's provider (pair with `transport()`)."""
        return base_url(IN_PROCESS_ROOT, vendor)

    def run(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> AbstractAsyncContextManager[RunningServer]:
        """Serves over a real socket under uvicorn in this event loop, while the block runs."""
        from ashford_llm.testing.fake_server.serve import run

        return run(self, host=host, port=port)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry point; turns a dropped-connection fault into a closed connection."""
        try:
            await self._router(scope, receive, send)
        except _DropConnection:
            # uvicorn's `send` is a bound method of the request cycle, which holds the socket.
            socket_transport = getattr(getattr(send, "__self__", None), "transport", None)
            if socket_transport is None:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from None
            socket_transport.close()
            await asyncio.sleep(0)  # lets the server see the disconnect before the app returns

    async def _openai(self, request: Request) -> Response:
        return await self._handle(openai.FORMAT, request, model=None, stream=False)

    async def _anthropic(self, request: Request) -> Response:
        return await self._handle(anthropic.FORMAT, request, model=None, stream=False)

    async def _gemini(self, request: Request) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        stream = method == "streamGenerateContent"
        return await self._handle(gemini.FORMAT, request, model=model, stream=stream)

    async def _bedrock(self, request: Request) -> Response:
        model, _, operation = request.path_params["target"].rpartition("/")
        if not model or operation not in bedrock.OPERATIONS:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        try:  # SigV4 covers the raw path and the body, so the format needs both
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        fmt = bedrock.for_request(request.method, raw_path.decode("latin-1"), body)
        return await self._handle(fmt, request, model=model, stream=bedrock.OPERATIONS[operation])

    def _next_id(self) -> str:
        with self._ids_lock:
            return f"fake{next(self._ids):08d}"

    def _record(self, parsed: AnswerRequest | None, seen: _Seen, **fields: Any) -> None:
        model = parsed.model if parsed else ""
        stream = parsed.stream if parsed else False
        record = ServedRecord(
            vendor=seen.vendor,
            model=model,
            stream=stream,
            attempt=seen.attempt,
            request_id=seen.request_id,
            **fields,
        )
        self._counter.add(record)

    def _reply(
        self,
        reply: Reply,
        seen: _Seen,
        parsed: AnswerRequest | None,
        fault: Fault | None,
        *,
        outage: bool = False,
    ) -> Response:
        self._record(
            parsed, seen, fault=fault, status=reply.status, text="", ok=False, outage=outage
        )
        headers = {**reply.headers, "content-type": reply.content_type}
        return Response(reply.body, status_code=reply.status, headers=headers)

    async def _handle(
        self, fmt: VendorFormat, request: Request, *, model: str | None, stream: bool
    ) -> Response:
        response_id = self._next_id()
        request_id = f"req_{response_id}"
        seen = _Seen(fmt.name, request.headers.get(ATTEMPT_HEADER), request_id)
        denied = fmt.authenticate(request.headers, request.query_params, self._api_key)
        if denied is not None:
            return self._reply(denied, seen, None, None)
        try:
            parsed = fmt.parse(await request.body(), model=model, stream=stream)
        except ClientDisconnect:
            # The client gave up before its body arrived (e.g. its timeout passed while the
            # request was queued): count it as nginx would (499), with nobody left to answer.
            self._record(None, seen, fault=None, status=499, text="", ok=False)
            return Response(status_code=499)
        except BadRequest as exc:
            return self._reply(fmt.bad_request(str(exc), request_id), seen, None, None)
        outage = self._outages.fault(fmt.name)
        fault = outage or self._plan.next(stream=parsed.stream)
        answer = make_answer(parsed, self._answer, self._cache, response_id=response_id)
        if fault is Fault.dropped_connection:
            self._record(
                parsed, _Seen(fmt.name, seen.attempt, ""), fault=fault, status=0, text="", ok=False
            )
            raise _DropConnection
        if fault in _STATUS_FAULTS:
            error = fmt.error(
                fault, model=parsed.model, request_id=request_id, retry_after=self._retry_after
            )
            return self._reply(error, seen, parsed, fault, outage=outage is not None)
        if fault is Fault.html_error:
            html = Reply(status=502, body=_HTML, content_type="text/html")
            return self._reply(html, seen, parsed, fault)
        if fault is Fault.slow_first_byte:
            await asyncio.sleep(self._slow_seconds)
        headers = fmt.headers(request_id)
        if not parsed.stream:
            body = fmt.body(answer, parsed, response_id)
            ok = fault is not Fault.malformed_json
            if not ok:
                body = body[: len(body) // 2]
            self._record(
                parsed, seen, fault=fault, status=200, text=answer.text if ok else "", ok=ok
            )
            headers["content-type"] = "application/json"
            return Response(body, status_code=200, headers=headers)
        plan = fmt.stream(answer, parsed, response_id)
        frames = self._frames(fmt, plan, answer, parsed, fault, seen)
        headers |= {"content-type": plan.content_type, "cache-control": "no-cache"}
        return StreamingResponse(frames, status_code=200, headers=headers)

    async def _frames(
        self,
        fmt: VendorFormat,
        plan: StreamPlan,
        answer: Answer,
        parsed: AnswerRequest,
        fault: Fault | None,
        seen: _Seen,
    ) -> AsyncIterator[bytes]:
        """Yields the stream's frames, shaped by the fault; records what went out."""
        sent: list[str] = []
        complete = False
        try:
            async for frame in shape_stream(
                plan,
                answer.chunks if plan.texts is None else plan.texts,
                fault,
                error_frame=fmt.stream_error(),
                stall_seconds=self._stall_seconds,
                chunk_delay=self._chunk_delay,
                sent=sent,
            ):
                yield frame
            complete = fault not in BROKEN_STREAM
        finally:
            self._record(parsed, seen, fault=fault, status=200, text="".join(sent), ok=complete)
