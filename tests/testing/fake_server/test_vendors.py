"""Each vendor's plain answer, stream and auth errors, in-process and over a socket."""

import json

import pytest

from ashford_llm.cli._demo_data import classify_email
from ashford_llm.testing import AnswerRequest, FakeProviderServer, canned
from tests.testing.fake_server.conftest import OpenClient
from tests.testing.fake_server.helpers import (
    MODELS,
    VENDORS,
    post,
    read_plain,
    read_stream,
    request_parts,
)

QUESTION = "please repeat these seven words back exactly"
FINISH_STOP = {"openai": "stop", "anthropic": "end_turn", "gemini": "STOP"}
FINISH_LENGTH = {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}
REQUEST_ID_HEADER = {"openai": "x-request-id", "anthropic": "request-id"}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_plain_answer_echoes_with_word_counted_usage(
    vendor: str, open_client: OpenClient
) -> None:
    server = FakeProviderServer()
    client = await open_client(server, vendor)
    response = await post(client, vendor, QUESTION)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    plain = read_plain(vendor, response.json())
    assert plain.text == QUESTION
    assert (plain.input_tokens, plain.output_tokens) == (7, 7)
    assert plain.finish == FINISH_STOP[vendor]
    if vendor in REQUEST_ID_HEADER:
        assert response.headers[REQUEST_ID_HEADER[vendor]].startswith("req_")
    record = server.stats.records[0]
    assert (record.vendor, record.model, record.stream, record.ok) == (
        vendor,
        MODELS[vendor],
        False,
        True,
    )
    assert record.text == plain.text


@pytest.mark.parametrize("vendor", VENDORS)
async def test_stream_concatenates_to_the_plain_answer(
    vendor: str, open_client: OpenClient
) -> None:
    server = FakeProviderServer()
    client = await open_client(server, vendor)
    response = await post(client, vendor, QUESTION, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    streamed = read_stream(vendor, response.text)
    assert streamed.terminal
    assert streamed.error is None
    assert len([piece for piece in streamed.pieces if piece]) == 7
    assert streamed.text == QUESTION
    assert streamed.finish == FINISH_STOP[vendor]
    assert streamed.output_tokens == 7
    assert server.stats.records[0].text == streamed.text
    assert server.stats.successes == 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_openai_stream_ends_with_usage_chunk_then_done(
    vendor: str, open_client: OpenClient
) -> None:
    server = FakeProviderServer()
    client = await open_client(server, vendor)
    response = await post(client, vendor, "a b", stream=True)
    blocks = [block for block in response.text.split("\n\n") if block]
    if vendor == "openai":
        assert blocks[-1] == "data: [DONE]"
        last = json.loads(blocks[-2].removeprefix("data: "))
        assert last["choices"] == []
        assert last["usage"]["total_tokens"] == 4
    elif vendor == "anthropic":
        names = [block.split("\n")[0].removeprefix("event: ") for block in blocks]
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    else:
        assert "[DONE]" not in response.text
        last = json.loads(blocks[-1].removeprefix("data: "))
        assert last["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_truncates_and_reports_length(
    vendor: str, stream: bool, open_client: OpenClient
) -> None:
    server = FakeProviderServer()
    client = await open_client(server, vendor)
    response = await post(client, vendor, QUESTION, stream=stream, max_tokens=3)
    if stream:
        streamed = read_stream(vendor, response.text)
        text, finish, output = streamed.text, streamed.finish, streamed.output_tokens
    else:
        plain = read_plain(vendor, response.json())
        text, finish, output = plain.text, plain.finish, plain.output_tokens
    assert text == "please repeat these "
    assert finish == FINISH_LENGTH[vendor]
    assert output == 3


@pytest.mark.parametrize("vendor", VENDORS)
async def test_wrong_key_gets_the_vendor_auth_error(vendor: str, open_client: OpenClient) -> None:
    server = FakeProviderServer(api_key="the-right-key")
    client = await open_client(server, vendor)
    response = await post(client, vendor, QUESTION, key="a-wrong-key-123")
    assert "a-wrong-key-123" not in response.text
    body = response.json()
    if vendor == "openai":
        assert response.status_code == 401
        assert body["error"]["code"] == "invalid_api_key"
    elif vendor == "anthropic":
        assert response.status_code == 401
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
    else:
        assert response.status_code == 400
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        assert body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert server.stats.records[0].status == response.status_code
    assert server.stats.successes == 0


@pytest.mark.parametrize("vendor", VENDORS)
async def test_missing_key_is_refused(vendor: str, open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(api_key=None), vendor)
    response = await post(client, vendor, QUESTION, key=None)
    assert response.status_code == {"openai": 401, "anthropic": 401, "gemini": 403}[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_api_key_none_accepts_any_key(vendor: str, open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(api_key=None), vendor)
    response = await post(client, vendor, QUESTION, key="whatever")
    assert response.status_code == 200


async def test_anthropic_accepts_bearer_and_requires_a_version(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "anthropic")
    path, headers, body = request_parts("anthropic", QUESTION)
    bearer = {"authorization": "Bearer test-key", "anthropic-version": "2026-10-21"}
    assert (await client.post(path, headers=bearer, json=body)).status_code == 200
    del headers["anthropic-version"]
    response = await client.post(path, headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in response.json()["error"]["message"]


async def test_gemini_accepts_the_key_query_parameter(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "gemini")
    path, _, body = request_parts("gemini", QUESTION, key=None)
    response = await client.post(path, params={"key": "test-key"}, json=body)
    assert response.status_code == 200


@pytest.mark.parametrize("vendor", VENDORS)
async def test_unparseable_request_gets_the_vendor_400(
    vendor: str, open_client: OpenClient
) -> None:
    client = await open_client(FakeProviderServer(), vendor)
    path, headers, _ = request_parts(vendor, QUESTION)
    response = await client.post(path, headers=headers, content=b"{not json")
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_classify_email_answers_json_from_keywords(
    vendor: str, open_client: OpenClient
) -> None:
    client = await open_client(FakeProviderServer(answer=classify_email), vendor)
    refund = await post(client, vendor, "I want a refund for this invoice", json_mode=True)
    assert json.loads(read_plain(vendor, refund.json()).text) == {
        "label": "billing",
        "confidence": 0.9,
    }
    other = await post(client, vendor, "Hello, how are you?", json_mode=True)
    assert json.loads(read_plain(vendor, other.json()).text)["label"] == "other"


async def test_answer_function_sees_the_normalised_request(open_client: OpenClient) -> None:
    seen: list[AnswerRequest] = []

    def answer(request: AnswerRequest) -> str:
        seen.append(request)
        return "fixed"

    client = await open_client(FakeProviderServer(answer=answer), "gemini")
    response = await post(client, "gemini", "hi there", json_mode=True, max_tokens=9)
    assert read_plain("gemini", response.json()).text == "fixed"
    (request,) = seen
    assert (request.vendor, request.model, request.messages) == (
        "gemini",
        "gemini-test",
        (("user", "hi there"),),
    )
    assert (request.json, request.max_tokens, request.stream) == (True, 9, False)


async def test_canned_answers_the_same_text(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(answer=canned("always this")), "openai")
    for question in ("one", "two"):
        response = await post(client, "openai", question)
        assert read_plain("openai", response.json()).text == "always this"


async def test_unknown_gemini_method_is_not_found(open_client: OpenClient) -> None:
    client = await open_client(FakeProviderServer(), "gemini")
    _, headers, body = request_parts("gemini", QUESTION)
    response = await client.post("/v1beta/models/m:countTokens", headers=headers, json=body)
    assert response.status_code == 404
