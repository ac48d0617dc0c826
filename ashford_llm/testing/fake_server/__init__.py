"""A fake OpenAI / Anthropic / Gemini / Azure OpenAI / Vertex AI / Bedrock server, with
scripted and seeded faults.

It needs starlette (the `testing` extra); checking Bedrock's SigV4 signatures needs botocore
(extra `bedrock`). Azure's routes live in `azure` (the endpoint is the server root:
`server.base_url("azure")`).

In-process: `httpx.AsyncClient(transport=server.transport(), base_url=server.base_url("openai"))`.
Over a socket: `async with server.run() as running: running.base_url("openai")`.
`evidence` matches a client's failed attempts to the faults the server injected into them;
`batches` serves the three vendors' batch APIs (`BatchOptions`).
"""

from ashford_llm.testing.fake_server.answers import (
    AnswerFunction,
    AnswerRequest,
    canned,
    echo,
)
from ashford_llm.testing.fake_server.app import FakeProviderServer
from ashford_llm.testing.fake_server.batches import BatchOptions
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
    "BatchOptions",
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
