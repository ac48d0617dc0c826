"""The server's per-request log and the evidence check that matches attempts to faults."""

import httpx
import pytest

from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.middleware import Retry, Timeout
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import FakeProviderServer, Fault
from ashford_llm.testing.fake_server import ATTEMPT_HEADER, STREAM_ONLY, ServedRecord
from ashford_llm.testing.fake_server.evidence import (
    FAULT_OUTCOMES,
    Attempt,
    CallTrace,
    index_records,
    note_retry,
    tag_attempt,
    track_call,
    unexplained,
)
from ashford_llm.types import ChatMessage, CompletionRequest, StreamEnd
from tests.testing.fake_server.helpers import KEY, request_parts

TEXT = "one two three four five six"


async def post(client: httpx.AsyncClient, vendor: str, attempt: str | None) -> httpx.Response:
    path, headers, body = request_parts(vendor, TEXT)
    if attempt is not None:
        headers[ATTEMPT_HEADER] = attempt
    return await client.post(path, headers=headers, json=body)


async def test_server_records_the_attempt_header_and_its_request_id() -> None:
    server = FakeProviderServer(api_key=KEY, script=[Fault.server_error, None])
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url("openai")
    ) as client:
        failed = await post(client, "openai", "c1/1")
        answered = await post(client, "openai", "c1/2")

    first, second = server.stats.records
    assert (first.attempt, first.fault, first.request_id) == (
        "c1/1",
        Fault.server_error,
        failed.headers["x-request-id"],
    )
    assert (second.attempt, second.fault, second.ok) == ("c1/2", None, True)
    assert second.request_id == answered.headers["x-request-id"] != first.request_id


async def test_server_records_a_dropped_connection_under_its_attempt_without_a_request_id() -> None:
    server = FakeProviderServer(api_key=KEY, script=[Fault.dropped_connection])
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url("openai")
    ) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, "openai", "c9/3")

    (record,) = server.stats.records
    assert (record.attempt, record.fault, record.status, record.request_id) == (
        "c9/3",
        Fault.dropped_connection,
        0,
        "",
    )


async def test_server_records_no_attempt_when_the_header_is_absent() -> None:
    server = FakeProviderServer(api_key=KEY)
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url("anthropic")
    ) as client:
        await post(client, "anthropic", None)

    assert server.stats.records[0].attempt is None


def test_fault_outcomes_name_every_fault() -> None:
    assert set(FAULT_OUTCOMES) == set(Fault)


def record(
    attempt: str, fault: Fault | None, *, ok: bool = False, text: str = "", request_id: str = ""
) -> ServedRecord:
    return ServedRecord(
        vendor="openai",
        model="m",
        stream=True,
        fault=fault,
        status=200,
        text=text,
        ok=ok,
        attempt=attempt,
        request_id=request_id,
    )


def trace_of(call_id: str, *outcomes: BaseException | None) -> CallTrace:
    """Returns a trace whose attempts ended in `outcomes`, the last one finishing the call."""
    trace = CallTrace(call_id)
    for number, outcome in enumerate(outcomes[:-1], 1):
        assert outcome is not None
        trace.retried(number, outcome)
    trace.finish(outcomes[-1])
    return trace


def mid_stream(cause: LLMError, text: str) -> MidStreamError:
    try:
        raise MidStreamError("stream failed", partial_text=text) from cause
    except MidStreamError as error:
        return error


def test_retries_and_answer_matched_to_their_faults_are_explained() -> None:
    trace = trace_of("7", RateLimitError("429"), ServerError("503"), None)
    records = [
        record("7/1", Fault.rate_limit),
        record("7/2", Fault.unavailable),
        record("7/3", None, ok=True),
    ]

    assert unexplained(trace, index_records(records)) == []


def test_mid_stream_error_with_the_sent_text_is_explained_by_a_stall() -> None:
    trace = trace_of("4", mid_stream(LLMTimeoutError("idle"), "one two"))
    records = [record("4/1", Fault.stall, text="one two three")]

    assert unexplained(trace, index_records(records)) == []


def test_an_error_on_an_attempt_without_a_fault_is_unexplained() -> None:
    trace = trace_of("3", ResponseDecodeError("bug"), None)
    records = [record("3/1", None, ok=True), record("3/2", None, ok=True)]

    assert unexplained(trace, index_records(records)) == [
        "call 3 attempt 1: ResponseDecodeError, but the server injected no fault (bug)"
    ]


def test_the_wrong_error_class_for_a_fault_is_unexplained() -> None:
    trace = trace_of("5", ServerError("429 read as 500"), None)
    records = [record("5/1", Fault.rate_limit), record("5/2", None, ok=True)]

    assert unexplained(trace, index_records(records)) == [
        "call 5 attempt 1: ServerError, but the server injected rate_limit (429 read as 500)"
    ]


def test_a_mid_stream_error_whose_cause_the_fault_cannot_make_is_unexplained() -> None:
    trace = trace_of("6", mid_stream(ServerError("event"), "one"))
    records = [record("6/1", Fault.stall, text="one two")]

    assert unexplained(trace, index_records(records)) == [
        "call 6 attempt 1: MidStreamError (ServerError), but the server injected stall "
        "(stream failed)"
    ]


def test_a_mid_stream_error_with_text_the_server_never_sent_is_unexplained() -> None:
    trace = trace_of("8", mid_stream(ResponseDecodeError("cut"), "one one"))
    records = [record("8/1", Fault.cut_stream, text="one two")]

    assert unexplained(trace, index_records(records)) == [
        "call 8 attempt 1: MidStreamError (ResponseDecodeError) "
        "carries text the server did not send"
    ]


def test_an_answer_the_server_never_sent_whole_is_unexplained() -> None:
    trace = trace_of("2", None)

    assert unexplained(trace, index_records([record("2/1", Fault.slow_first_byte)])) == [
        "call 2 attempt 1: answered, but the server sent no complete answer"
    ]


def test_attempts_missing_from_or_extra_in_the_server_log_are_unexplained() -> None:
    trace = trace_of("1", ServerError("500"), None)
    records = [record("1/1", Fault.server_error), record("1/3", None, ok=True)]

    assert unexplained(trace, index_records(records)) == [
        "call 1 attempt 2: answered, but the server recorded 0 requests for it",
        "call 1 attempt 3: the server saw an attempt the client never made",
    ]


def test_an_error_naming_another_request_is_unexplained() -> None:
    error = ServerError("500", request_id="req_b")
    trace = trace_of("9", error, None)
    records = [
        record("9/1", Fault.server_error, request_id="req_a"),
        record("9/2", None, ok=True),
    ]

    assert unexplained(trace, index_records(records)) == [
        "call 9 attempt 1: the error names request req_b, the server's record req_a"
    ]


def test_attempt_of_an_untyped_error_keeps_its_class() -> None:
    assert Attempt.of(RuntimeError("boom")).describe() == "RuntimeError"


def test_call_trace_rejects_an_id_that_cannot_be_parsed_back() -> None:
    with pytest.raises(ValueError, match="call_id"):
        CallTrace("a/b")


FAULTS_BY_MODE = [(fault, stream) for fault in Fault for stream in (False, True)]


@pytest.mark.parametrize(("fault", "stream"), FAULTS_BY_MODE)
async def test_each_fault_makes_an_outcome_its_table_row_allows_over_a_real_provider(
    fault: Fault, stream: bool
) -> None:
    vendor = ("openai", "anthropic", "google")[FAULTS_BY_MODE.index((fault, stream)) % 3]
    server = FakeProviderServer(
        api_key=KEY, script=[fault], retry_after=0.0, slow_seconds=0.01, stall_seconds=0.5
    )
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
            Timeout(terminal, idle=0.1), max_retries=1, base_delay=0.0, on_retry=note_retry
        )
        request = CompletionRequest([ChatMessage.user(TEXT)])
        with track_call("1") as trace:
            try:
                if stream:
                    async for event in stack.stream(request):
                        assert not isinstance(event, StreamEnd) or event.response.content
                else:
                    await stack.complete(request)
            except LLMError as error:
                trace.finish(error)
            else:
                trace.finish(None)

    injected = None if fault in STREAM_ONLY and not stream else fault
    assert server.stats.records[0].fault == injected
    assert unexplained(trace, index_records(server.stats.records)) == []
