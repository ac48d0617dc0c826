"""httpx2 under the providers: the default client, a caller's httpx2 client, its errors mapped.

The providers build an `httpx2.AsyncClient` when given none, and accept either an httpx or an
httpx2 client; both libraries' exceptions become ashford_llm errors at `map_httpx_errors`.
"""

from __future__ import annotations

import json

import httpx
import httpx2
import pytest
import respx

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, StreamEnd, TextDelta
from ashford_llm.errors import (
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    NetworkError,
    ResponseDecodeError,
)
from ashford_llm.providers import OpenAIProvider
from ashford_llm.providers._http import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    HTTPX_ERRORS,
    client_library,
    map_httpx_errors,
)

BASE = "http://api.example.test/v1"
REQUEST = CompletionRequest(messages=[ChatMessage.user("hi")])
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
).encode()
STREAM = (
    b'data: {"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"h"}}]}\n\n'
    b'data: {"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"i"},'
    b'"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def provider(http_client: object = None, **options: object) -> OpenAIProvider:
    return OpenAIProvider(
        ModelConfig(provider="openai", model="gpt-4o-mini"),
        api_key="sk-test-0000",
        base_url=BASE,
        http_client=http_client,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def answer(request: httpx2.Request) -> httpx2.Response:
    if b'"stream":true' in request.content:
        return httpx2.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, content=COMPLETION, headers={"x-request-id": "req_1"})


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= all_subclasses(sub)
    return found


async def test_a_provider_built_without_a_client_makes_an_httpx2_one_with_the_defaults() -> None:
    built = provider()
    try:
        client = built._client
        assert isinstance(client, httpx2.AsyncClient)
        assert client_library(client) is httpx2
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == DEFAULT_LIMITS.max_connections
        assert pool._max_keepalive_connections == DEFAULT_LIMITS.max_keepalive_connections
        assert (client.timeout.connect, client.timeout.read) == (
            DEFAULT_TIMEOUT.connect,
            DEFAULT_TIMEOUT.read,
        )
        assert built._timeout is httpx2.USE_CLIENT_DEFAULT
    finally:
        await built.aclose()
    assert client.is_closed


def test_keep_alive_covers_every_connection_so_a_burst_does_not_churn() -> None:
    assert DEFAULT_LIMITS.max_keepalive_connections == DEFAULT_LIMITS.max_connections


async def test_a_callers_httpx2_client_completes_and_streams() -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as client:
        built = provider(client)
        response = await built.complete(REQUEST)
        assert (response.content, response.request_id) == ("hi", "req_1")
        events = [event async for event in built.stream(REQUEST)]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "hi"
        assert isinstance(events[-1], StreamEnd)
        await built.aclose()
        assert not client.is_closed  # a given client is the caller's to close


async def test_a_timeout_in_seconds_reaches_an_httpx2_client_as_its_own_timeout() -> None:
    seen: list[object] = []

    def capture(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.extensions["timeout"])
        return answer(request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(capture)) as client:
        await provider(client, timeout=7.5).complete(REQUEST)
        await provider(client).complete(REQUEST)  # httpx2's 5 s default: ours instead
    assert seen[0] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
    assert seen[1]["read"] == DEFAULT_TIMEOUT.read  # type: ignore[index]


async def test_an_httpx_timeout_reaches_an_httpx2_client_converted() -> None:
    built = provider(
        httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),
        timeout=httpx.Timeout(3.0, connect=1.0),
    )
    assert isinstance(built._timeout, httpx2.Timeout)
    assert (built._timeout.connect, built._timeout.read) == (1.0, 3.0)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx2.ConnectError("refused"), NetworkError),
        (httpx2.ReadError("reset"), NetworkError),
        (httpx2.RemoteProtocolError("peer closed"), NetworkError),
        (httpx2.ReadTimeout("slow"), LLMTimeoutError),
        (httpx2.PoolTimeout("slow"), LLMTimeoutError),
        (httpx2.UnsupportedProtocol("ftp"), InvalidRequestError),
        (httpx2.DecodingError("gzip"), ResponseDecodeError),
    ],
)
async def test_httpx2_errors_from_a_provider_call_are_mapped(
    exc: Exception, expected: type[LLMError]
) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise exc

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(fail)) as client:
        with pytest.raises(expected) as caught:
            await provider(client).complete(REQUEST)
        assert caught.value.provider == "openai"
        assert caught.value.__cause__ is exc
        with pytest.raises(expected):
            async for _ in provider(client).stream(REQUEST):
                pass


@pytest.mark.parametrize(
    "exc_type", sorted(all_subclasses(httpx2.HTTPError), key=lambda c: c.__name__)
)
def test_every_httpx2_error_maps_as_its_httpx_namesake(exc_type: type[Exception]) -> None:
    namesake = next(
        getattr(httpx, cls.__name__)
        for cls in exc_type.__mro__
        if getattr(httpx, cls.__name__, None) in HTTPX_ERRORS
    )
    try:
        exc = exc_type("boom")
    except TypeError:  # HTTPStatusError needs a request and a response
        request = httpx2.Request("POST", BASE)
        exc = exc_type("boom", request=request, response=httpx2.Response(500, request=request))
    with pytest.raises(LLMError) as caught, map_httpx_errors("openai"):
        raise exc
    assert type(caught.value) is HTTPX_ERRORS[namesake]


def test_an_httpx2_illegal_header_error_does_not_carry_the_header_value() -> None:
    with pytest.raises(InvalidRequestError) as caught, map_httpx_errors("openai"):
        raise httpx2.LocalProtocolError("Illegal header value b'Bearer sk-SECRETKEY-123\\n'")
    assert "SECRETKEY" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_other_exceptions_pass_through_the_choke_point_unchanged() -> None:
    problem = ValueError("not an HTTP error")
    with pytest.raises(ValueError, match="not an HTTP error") as caught, map_httpx_errors("openai"):
        raise problem
    assert caught.value is problem


@respx.mock
async def test_respx_mocks_the_default_httpx2_client() -> None:
    route = respx.post(f"{BASE}/chat/completions").respond(200, content=COMPLETION)
    built = provider()
    try:
        assert (await built.complete(REQUEST)).content == "hi"
    finally:
        await built.aclose()
    assert route.call_count == 1


@respx.mock
async def test_respx_raises_httpx_errors_through_the_httpx2_client_mapped() -> None:
    respx.post(f"{BASE}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    built = provider()
    try:
        with pytest.raises(NetworkError, match="refused"):
            await built.complete(REQUEST)
    finally:
        await built.aclose()


@pytest.mark.parametrize("timeout", [False, True, "30", object()])
def test_a_timeout_that_is_neither_seconds_nor_a_timeout_is_a_type_error(timeout: object) -> None:
    with pytest.raises(TypeError, match="timeout must be seconds or an httpx or httpx2 Timeout"):
        provider(timeout=timeout)
