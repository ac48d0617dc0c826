"""A rejected key costs one request, or two when the refresh gives a new key; Retry adds none.

Each vendor's provider runs over an httpx.MockTransport that answers 401 and keeps every
request, under `Retry(max_retries=4)` as a service would use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from ashford_llm import ChatMessage, ClientBuilder, CompletionRequest, StreamEnd
from ashford_llm.errors import AuthenticationError, LLMError
from ashford_llm.middleware import Retry, RetryEvent
from ashford_llm.protocol import LLMProvider
from tests.reliability.vendors import VENDORS, error_body, make_provider, ok_body, sse_events

REQUEST = CompletionRequest([ChatMessage.user("Hello")])
BASE = "http://vendor.test"
KEY = "key-static-0123456789abcdef"
KEY_HEADERS = {"openai": "authorization", "anthropic": "x-api-key", "google": "x-goog-api-key"}
ENV_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
}
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}


class Rotating:
    """Credentials whose every refresh hands out a new key (a token service)."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self) -> str:
        return f"key-rotating-{self.refreshes}"

    async def refresh(self) -> str:
        self.refreshes += 1
        return f"key-rotating-{self.refreshes}"


class SameKey:
    """Credentials whose refresh runs (and is counted) but gives the same key back."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self) -> str:
        return KEY

    async def refresh(self) -> str:
        self.refreshes += 1
        return KEY + "\n"  # as pasted: the same key once checked


def sent_key(vendor: str, request: httpx.Request) -> str:
    return request.headers[KEY_HEADERS[vendor]].removeprefix("Bearer ")


@asynccontextmanager
async def rejecting(
    vendor: str, accepted: str | None = None, *, stream: bool = False, **options: Any
) -> AsyncIterator[tuple[LLMProvider, list[str]]]:
    """A provider whose server answers 401 to every key but `accepted`; yields the keys sent."""
    keys: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        key = sent_key(vendor, request)
        keys.append(key)
        if key == accepted and stream:
            events = "".join(sse_events(vendor, ["Hel", "lo!"])).encode()
            return httpx.Response(200, headers=SSE, content=events)
        if key == accepted:
            return httpx.Response(200, headers=JSON, content=ok_body(vendor, "Hello!"))
        return httpx.Response(401, headers=JSON, content=error_body(vendor, 401, "bad key"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        yield make_provider(vendor, BASE, client, **options), keys


async def no_wait(seconds: float) -> None:
    return None


def under_retry(provider: LLMProvider, **options: Any) -> LLMProvider:
    return ClientBuilder().use(Retry, max_retries=4, sleep=no_wait, **options).build(provider)


async def fail(stack: LLMProvider, stream: bool) -> LLMError:
    with pytest.raises(LLMError) as caught:
        if stream:
            async for _ in stack.stream(REQUEST):
                pass
        else:
            await stack.complete(REQUEST)
    return caught.value


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_bad_static_key_costs_one_request_under_retry(vendor: str, stream: bool) -> None:
    async with rejecting(vendor, api_key=KEY) as (provider, keys):
        error = await fail(under_retry(provider), stream)
    assert keys == [KEY]
    assert type(error) is AuthenticationError
    assert error.retryable is True  # a job system may try again later, with a rotated key
    assert error.attempts == 1
    assert error.status == 401
    assert "gave the same key" in error.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
async def test_refreshable_credentials_cost_two_requests_under_retry(
    vendor: str, stream: bool
) -> None:
    credentials = Rotating()
    async with rejecting(vendor, credentials=credentials) as (provider, keys):
        error = await fail(under_retry(provider), stream)
    assert keys == ["key-rotating-0", "key-rotating-1"]
    assert credentials.refreshes == 1
    assert type(error) is AuthenticationError
    assert error.attempts == 1
    assert "rejected again after refreshing the credential once" in error.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_refreshed_key_that_is_accepted_answers(vendor: str, stream: bool) -> None:
    credentials = Rotating()
    async with rejecting(vendor, "key-rotating-1", stream=stream, credentials=credentials) as (
        provider,
        keys,
    ):
        stack = under_retry(provider)
        if stream:
            events = [event async for event in stack.stream(REQUEST)]
            assert isinstance(events[-1], StreamEnd)
            assert events[-1].response.content == "Hello!"
        else:
            assert (await stack.complete(REQUEST)).content == "Hello!"
    assert keys == ["key-rotating-0", "key-rotating-1"]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_refresh_still_runs_once_when_it_gives_the_same_key(vendor: str) -> None:
    credentials = SameKey()
    async with rejecting(vendor, credentials=credentials) as (provider, keys):
        await fail(under_retry(provider), stream=False)
    assert keys == [KEY]
    assert credentials.refreshes == 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_environment_key_is_sent_again_only_when_the_variable_changed(
    vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_KEYS[vendor], "key-env-old")
    async with rejecting(vendor) as (provider, keys):
        await fail(under_retry(provider), stream=False)
        assert keys == ["key-env-old"]
        monkeypatch.setenv(ENV_KEYS[vendor], "key-env-new")
        await fail(under_retry(provider), stream=False)
    assert keys == ["key-env-old", "key-env-old", "key-env-new"]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
async def test_retry_retries_authentication_errors_when_told_to(vendor: str, stream: bool) -> None:
    events: list[RetryEvent] = []
    async with rejecting(vendor, api_key=KEY) as (provider, keys):
        stack = under_retry(provider, retry_authentication=True, on_retry=events.append)
        error = await fail(stack, stream)
    assert keys == [KEY] * 5
    assert error.attempts == 5
    assert [type(event.error) for event in events] == [AuthenticationError] * 4


def test_retry_authentication_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="retry_authentication must be a bool"):
        ClientBuilder().use(Retry, retry_authentication="yes").build(
            make_provider("openai", BASE, None, api_key=KEY)
        )
