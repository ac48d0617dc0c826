"""A fake OpenAI / Anthropic / Gemini server with scripted and seeded faults (needs starlette).

In-process: `httpx.AsyncClient(transport=server.transport(), base_url=server.base_url("openai"))`.
Over a socket: `async with server.run() as running: running.base_url("openai")`.
`evidence` matches a client's failed attempts to the faults the server injected into them.
"""

from ashford_llm.testing.fake_server.answers import (
    AnswerFunction,
    AnswerRequest,
    canned,
    echo,
)
from ashford_llm.testing.fake_server.app import FakeProviderServer
from ashford_llm.testing.fake_server.faults import (
    ATTEMPT_HEADER,
    STREAM_ONLY,
    Fault,
    Outage,
    ServedRecord,
    ServerStats,
)
from ashford_llm.testing.fake_server.serve import RunningServer, serve

__all__ = [
    "ATTEMPT_HEADER",
    "STREAM_ONLY",
    "AnswerFunction",
    "AnswerRequest",
    "FakeProviderServer",
    "Fault",
    "Outage",
    "RunningServer",
    "ServedRecord",
    "ServerStats",
    "canned",
    "echo",
    "serve",
]
