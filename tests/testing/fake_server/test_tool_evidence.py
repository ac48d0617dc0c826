"""The evidence table explains every failure of a tool-call answer, as it does for text."""

import httpx
import pytest

from ashford_llm.config import ModelConfig
from ashford_llm.errors import LLMError, MidStreamError, ResponseDecodeError, ServerError
from ashford_llm.middleware import Retry, Timeout
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import FakeProviderServer, Fault
from ashford_llm.testing.fake_server import STREAM_ONLY
from ashford_llm.testing.fake_server.evidence import (
    CallTrace,
    index_records,
    note_retry,
    tag_attempt,
    track_call,
    unexplained,
)
from ashford_llm.types import ChatMessage, CompletionRequest, StreamEnd, Tool, ToolCallDelta
from tests.testing.fake_server.helpers import KEY

VENDORS = ("openai", "anthropic", "google")
LOOKUP = Tool(
    "lookup",
    "Looks a word up",
    {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
)
REQUEST = CompletionRequest([ChatMessage.user("Define Serendipity please")], tools=[LOOKUP])


async def run_call(
    vendor: str, fault: Fault, *, stream: bool, max_retries: int = 1
) -> tuple[CallTrace, FakeProviderServer, list[object]]:
    """Runs one call through Retry and Timeout on a server injecting `fault` first."""
    server = FakeProviderServer(
        api_key=KEY, script=[fault], retry_after=0.0, slow_seconds=0.01, stall_seconds=0.5
    )
    events: list[object] = []
    async with (
        server.run() as running,
        httpx.AsyncClient(event_hooks={"request": [tag_attempt]}) as client,
    ):
        terminal = provider_from_config(
            ModelConfig(vendor, "m"),
            api_key=KEY,
            base_url=running.base_url(vendor),
            http_client=client,
        )
        stack = Retry(
            Timeout(terminal, idle=0.1),
            max_retries=max_retries,
            base_delay=0.0,
            on_retry=note_retry,
        )
        with track_call("1") as trace:
            try:
                if stream:
                    async for event in stack.stream(REQUEST):
                        events.append(event)
                        assert not isinstance(event, StreamEnd) or event.response.tool_calls
                else:
                    response = await stack.complete(REQUEST)
                    assert response.tool_calls
            except LLMError as error:
                trace.finish(error)
            else:
                trace.finish(None)
    return trace, server, events


FAULTS_BY_MODE = [(fault, stream) for fault in Fault for stream in (False, True)]


@pytest.mark.parametrize(("fault", "stream"), FAULTS_BY_MODE)
async def test_each_fault_on_a_tool_call_answer_is_explained_by_its_table_row(
    fault: Fault, stream: bool
) -> None:
    vendor = VENDORS[FAULTS_BY_MODE.index((fault, stream)) % 3]

    trace, server, _ = await run_call(vendor, fault, stream=stream)

    injected = None if fault in STREAM_ONLY and not stream else fault
    assert server.stats.records[0].fault == injected
    assert unexplained(trace, index_records(server.stats.records)) == []


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    ("fault", "cause"),
    [(Fault.cut_stream, ResponseDecodeError), (Fault.mid_stream_error, ServerError)],
)
async def test_a_broken_tool_call_stream_is_a_mid_stream_error_without_text(
    vendor: str, fault: Fault, cause: type[LLMError]
) -> None:
    trace, server, events = await run_call(vendor, fault, stream=True)

    # The call's first fragments reached the caller, so Retry may not start again.
    assert any(isinstance(event, ToolCallDelta) for event in events)
    (attempt,) = trace.attempts.values()
    assert (attempt.error, attempt.cause, attempt.partial_text) == (MidStreamError, cause, "")
    assert unexplained(trace, index_records(server.stats.records)) == []


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_malformed_first_tool_call_chunk_is_retried_before_anything_reached_the_caller(
    vendor: str,
) -> None:
    trace, server, events = await run_call(vendor, Fault.malformed_json, stream=True)

    assert [attempt.error for attempt in trace.attempts.values()] == [ResponseDecodeError, None]
    assert isinstance(events[-1], StreamEnd)
    assert [record.ok for record in server.stats.records] == [False, True]
