"""Every fault kind, per vendor, in-process and over a real socket."""

import httpx
import pytest

from ashford_llm.testing import FakeProviderServer, Fault
from tests.testing.fake_server.conftest import OpenClient
from tests.testing.fake_server.helpers import VENDORS, post, read_plain, read_stream

TEXT = "one two three four five six"

STATUS = {
    Fault.rate_limit: {"openai": 429, "anthropic": 429, "gemini": 429},
    Fault.quota_exhausted: {"openai": 429, "anthropic": 429, "gemini": 429},
    Fault.server_error: {"openai": 500, "anthropic": 500, "gemini": 500},
    Fault.unavailable: {"openai": 503, "anthropic": 503, "gemini": 503},
    Fault.overloaded: {"openai": 503, "anthropic": 529, "gemini": 503},
}


def error_kind(vendor: str, body: dict) -> str:  # type: ignore[type-arg]
    """Returns the field a client classifies the error by."""
    if vendor == "openai":
        return body["error"]["code"] or body["error"]["type"]
    if vendor == "anthropic":
        assert body["type"] == "error"
        return body["error"]["type"]
    return body["error"]["status"]


EXPECTED_KIND = {
    Fault.rate_limit: {
        "openai": "rate_limit_exceeded",
        "anthropic": "rate_limit_error",
        "gemini": "RESOURCE_EXHAUSTED",
    },
    Fault.quota_exhausted: {
        "openai": "insufficient_quota",
        "anthropic": "rate_limit_error",
        "gemini": "RESOURCE_EXHAUSTED",
    },
    Fault.server_error: {"openai": "server_error", "anthropic": "api_error", "gemini": "INTERNAL"},
    Fault.unavailable: {
        "openai": "server_is_overloaded",
        "anthropic": "api_error",
        "gemini": "UNAVAILABLE",
    },
    Fault.overloaded: {
        "openai": "server_is_overloaded",
        "anthropic": "overloaded_error",
        "gemini": "UNAVAILABLE",
    },
}


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("fault", list(STATUS))
@pytest.mark.parametrize("stream", [False, True])
async def test_status_fault_answers_the_vendor_error_envelope(
    vendor: str, fault: Fault, stream: bool, open_client: OpenClient
) -> None:
    server = FakeProviderServer(script=[fault])
    client = await open_client(server, vendor)
    response = await post(client, vendor, TEXT, stream=stream)
    assert response.status_code == STATUS[fault][vendor]
    assert response.headers["content-type"].startswith("application/json")
    assert error_kind(vendor, response.json()) == EXPECTED_KIND[fault][vendor]
    assert server.stats.faults == {str(fault): 1}
    assert server.stats.successes == 0


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
async def test_rate_limit_sends_retry_after_headers(vendor: str, open_client: OpenClient) -> None:
    client = await open_client(
        FakeProviderServer(script=[Fault.rate_limit], retry_after=2.5), vendor
    )
    response = await post(client, vendor, TEXT)
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"


async def test_gemini_rate_limit_carries_retry_info(open_client: OpenClient) -> None:
    client = await open_client(
        FakeProviderServer(script=[Fault.rate_limit], retry_after=2.5), "gemini"
    )
    details = (await post(client, "gemini", TEXT)).json()["error"]["details"]
    retry = [d for d in details if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_quota_exhausted_gives_no_retry_hint(vendor: str, open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(script=[Fault.quota_exhausted]), vendor)
    response = await post(client, vendor, TEXT)
    assert "retry-after" not in response.headers
    assert "RetryInfo" not in response.text


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_html_error_is_a_502_page(vendor: str, stream: bool, open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(script=[Fault.html_error]), vendor)
    response = await post(client, vendor, TEXT, stream=stream)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")


@pytest.mark.parametrize("vendor", VENDORS)
async def test_malformed_json_is_a_truncated_200_body(vendor: str, open_client: OpenClient) -> None:
    server = FakeProviderServer(script=[Fault.malformed_json])
    client = await open_client(server, vendor)
    response = await post(client, vendor, TEXT)
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"(?i)unterminated|expecting|invalid"):
        response.json()
    assert server.stats.records[0].ok is False


@pytest.mark.parametrize("vendor", VENDORS)
async def test_malformed_json_in_a_stream_is_an_undecodable_event(
    vendor: str, open_client: OpenClient
) -> None:
    client = await open_client(FakeProviderServer(script=[Fault.malformed_json]), vendor)
    streamed = read_stream(vendor, (await post(client, vendor, TEXT, stream=True)).text)
    assert len(streamed.undecodable) == 1
    assert not streamed.terminal


@pytest.mark.parametrize("vendor", VENDORS)
async def test_cut_stream_sends_all_text_but_no_terminal_event(
    vendor: str, open_client: OpenClient
) -> None:
    server = FakeProviderServer(script=[Fault.cut_stream])
    client = await open_client(server, vendor)
    response = await post(client, vendor, TEXT, stream=True)
    streamed = read_stream(vendor, response.text)
    assert response.status_code == 200
    assert streamed.text == TEXT
    assert not streamed.terminal
    assert streamed.finish is None
    assert "[DONE]" not in response.text
    assert "message_stop" not in response.text
    (record,) = server.stats.records
    assert (record.fault, record.text, record.ok) == (Fault.cut_stream, TEXT, False)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_mid_stream_error_follows_some_text(vendor: str, open_client: OpenClient) -> None:
    server = FakeProviderServer(script=[Fault.mid_stream_error])
    client = await open_client(server, vendor)
    response = await post(client, vendor, TEXT, stream=True)
    assert response.status_code == 200
    streamed = read_stream(vendor, response.text)
    assert streamed.text == "one two three "
    assert streamed.error is not None
    assert not streamed.terminal
    if vendor == "anthropic":
        assert "event: error" in response.text
        assert streamed.error["type"] == "overloaded_error"
    assert server.stats.records[0].text == streamed.text


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_dropped_connection_is_a_transport_error(
    vendor: str, stream: bool, open_client: OpenClient
) -> None:
    server = FakeProviderServer(script=[None, Fault.dropped_connection, None])
    client = await open_client(server, vendor)
    assert (await post(client, vendor, TEXT, stream=stream)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await post(client, vendor, TEXT, stream=stream)
    assert (await post(client, vendor, TEXT, stream=stream)).status_code == 200
    stats = server.stats
    assert (stats.requests, stats.successes, stats.faults) == (3, 2, {"dropped_connection": 1})


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("fault", [Fault.slow_first_byte, Fault.stall])
async def test_timing_faults_still_deliver_the_whole_answer(
    vendor: str, fault: Fault, open_client: OpenClient
) -> None:
    server = FakeProviderServer(script=[fault], slow_seconds=0.05, stall_seconds=0.05)
    client = await open_client(server, vendor)
    streamed = read_stream(vendor, (await post(client, vendor, TEXT, stream=True)).text)
    assert streamed.text == TEXT
    assert streamed.terminal
    assert server.stats.records[0].ok


@pytest.mark.parametrize("fault", [Fault.stall, Fault.cut_stream, Fault.mid_stream_error])
async def test_stream_only_fault_on_a_plain_request_answers_normally(
    fault: Fault, open_client: OpenClient
) -> None:
    server = FakeProviderServer(script=[fault])
    client = await open_client(server, "openai")
    assert read_plain("openai", (await post(client, "openai", TEXT)).json()).text == TEXT
    assert server.stats.records[0].fault is None


async def test_script_is_consumed_in_order_then_answers_normally(open_client: OpenClient) -> None:
    server = FakeProviderServer(script=[Fault.server_error, None, Fault.rate_limit])
    client = await open_client(server, "anthropic")
    statuses = [(await post(client, "anthropic", TEXT)).status_code for _ in range(4)]
    assert statuses == [500, 200, 429, 200]
    assert server.stats.by_vendor == {"anthropic": 4}
