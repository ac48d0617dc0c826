"""A client that gives up before its request body arrived is counted, not an app error."""

import asyncio
import logging

from ashford_llm.testing import FakeProviderServer

HEAD = (
    "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    "authorization: Bearer test-key\r\ncontent-type: application/json\r\n"
    "content-length: 1000\r\n\r\n"
)


class _Errors(logging.Handler):
    """Keeps the messages of ERROR records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_request_abandoned_mid_body_is_recorded_as_499_without_an_app_error() -> None:
    server = FakeProviderServer()
    errors = _Errors()
    async with server.run() as running:
        logging.getLogger("uvicorn.error").addHandler(errors)
        try:
            _, writer = await asyncio.open_connection(running.host, running.port)
            writer.write(HEAD.encode() + b'{"model": ')
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(500):  # the server reads the cut body a moment later
                if server.stats.requests:
                    break
                await asyncio.sleep(0.01)
        finally:
            logging.getLogger("uvicorn.error").removeHandler(errors)
    assert [(r.vendor, r.status, r.ok) for r in server.stats.records] == [("openai", 499, False)]
    assert errors.messages == []
