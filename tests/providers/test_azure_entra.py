"""Entra ID tokens for Azure OpenAI: fetched lazily, renewed before expiry and once after a 401.

The credentials are fakes shaped like azure-identity's (`get_token(*scopes)` returning
`azure.core.credentials.AccessToken`), sync and async, on a test clock; the provider runs over
an httpx.MockTransport that accepts one token.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from ashford_llm import AuthenticationError, ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.middleware import Retry
from ashford_llm.providers import AzureOpenAIProvider, EntraIDCredentials
from ashford_llm.providers.azure.entra import DEFAULT_SCOPE
from tests.reliability.vendors import error_body, ok_body

REQUEST = CompletionRequest([ChatMessage.user("Hi")])
JSON = {"content-type": "application/json"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeCredential:
    """A sync azure-identity credential: each get_token hands out the next token for an hour."""

    def __init__(self, clock: Clock, *, same_token: bool = False) -> None:
        self.clock = clock
        self.same_token = same_token
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        number = 1 if self.same_token else len(self.calls)
        return AccessToken(f"token-{number}", int(self.clock() + 3600))


class FakeAsyncCredential(FakeCredential):
    """The same, with azure.identity.aio's async get_token."""

    closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        await asyncio.sleep(0)
        return FakeCredential.get_token(self, *scopes)

    async def close(self) -> None:
        self.closed = True


async def test_the_token_is_fetched_once_for_the_default_scope_and_kept() -> None:
    clock = Clock()
    credential = FakeCredential(clock)
    entra = EntraIDCredentials(credential, clock=clock)
    assert await entra.get() == "token-1"
    clock.now += 3000  # 10 minutes left, more than the 5-minute margin
    assert await entra.get() == "token-1"
    assert credential.calls == [(DEFAULT_SCOPE,)]
    assert DEFAULT_SCOPE == "https://cognitiveservices.azure.com/.default"


async def test_a_token_about_to_expire_is_renewed_before_use() -> None:
    clock = Clock()
    credential = FakeCredential(clock)
    entra = EntraIDCredentials(credential, clock=clock, refresh_margin=300)
    assert await entra.get() == "token-1"
    clock.now += 3301  # 299 seconds left
    assert await entra.get() == "token-2"
    assert len(credential.calls) == 2


async def test_refresh_always_asks_again() -> None:
    clock = Clock()
    credential = FakeCredential(clock)
    entra = EntraIDCredentials(credential, clock=clock)
    await entra.get()
    assert await entra.refresh() == "token-2"
    assert await entra.get() == "token-2"


async def test_an_async_credential_and_a_custom_scope_work() -> None:
    clock = Clock()
    credential = FakeAsyncCredential(clock)
    entra = EntraIDCredentials(credential, scope="https://ai.azure.com/.default", clock=clock)
    assert await entra.get() == "token-1"
    assert credential.calls == [("https://ai.azure.com/.default",)]
    await entra.aclose()
    assert credential.closed


async def test_concurrent_calls_share_one_fetch() -> None:
    clock = Clock()
    credential = FakeAsyncCredential(clock)
    entra = EntraIDCredentials(credential, clock=clock)
    tokens = await asyncio.gather(*(entra.get() for _ in range(10)))
    assert set(tokens) == {"token-1"}
    assert len(credential.calls) == 1


class NoToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return object()


async def test_a_credential_that_returns_no_token_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="no token"):
        await EntraIDCredentials(NoToken()).get()


@pytest.mark.parametrize(
    ("options", "error"),
    [({"scope": ""}, ValueError), ({"refresh_margin": -1}, ValueError)],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        EntraIDCredentials(FakeCredential(Clock()), **options)


def test_an_object_without_get_token_is_refused() -> None:
    with pytest.raises(TypeError, match="get_token"):
        EntraIDCredentials(object())  # type: ignore[arg-type]


async def test_the_repr_never_shows_the_token() -> None:
    entra = EntraIDCredentials(FakeCredential(Clock()))
    token = await entra.get()
    assert token not in repr(entra)
    assert "redacted" in repr(entra)


def test_default_names_the_extra_when_azure_identity_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)
    with pytest.raises(ImportError, match=r"ashford-llm\[azure\]"):
        EntraIDCredentials.default()


async def test_default_builds_over_default_azure_credential() -> None:
    from azure.identity.aio import DefaultAzureCredential

    entra = EntraIDCredentials.default(scope="https://ai.azure.com/.default")
    assert isinstance(entra._credential, DefaultAzureCredential)
    assert entra.scope == "https://ai.azure.com/.default"
    await entra.aclose()


# Through the provider: the bearer header, expiry between calls, one refresh on 401 ----------


class Server:
    """Accepts only `accepted` as the bearer token; keeps every token it was sent."""

    def __init__(self, accepted: str | None) -> None:
        self.accepted = accepted
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.tokens.append(token)
        assert "api-key" not in request.headers
        if token == self.accepted:
            return httpx.Response(200, headers=JSON, content=ok_body("openai", "Hello!"))
        return httpx.Response(401, headers=JSON, content=error_body("openai", 401, "expired"))


def provider(server: Server, entra: EntraIDCredentials) -> AzureOpenAIProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return AzureOpenAIProvider(
        ModelConfig("azure", "dep"),
        endpoint="https://res.openai.azure.com",
        credentials=entra,
        http_client=client,
    )


async def test_a_token_that_expired_between_calls_is_renewed() -> None:
    clock = Clock()
    entra = EntraIDCredentials(FakeCredential(clock), clock=clock)
    server = Server(accepted="token-1")
    llm = provider(server, entra)
    await llm.complete(REQUEST)
    clock.now += 3600
    server.accepted = "token-2"
    await llm.complete(REQUEST)
    assert server.tokens == ["token-1", "token-2"]


async def test_a_401_refreshes_once_and_the_new_token_is_sent() -> None:
    clock = Clock()
    entra = EntraIDCredentials(FakeCredential(clock), clock=clock)
    server = Server(accepted="token-2")  # the first token was revoked
    response = await provider(server, entra).complete(REQUEST)
    assert response.content == "Hello!"
    assert server.tokens == ["token-1", "token-2"]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_second_401_is_an_authentication_error_after_two_requests(stream: bool) -> None:
    clock = Clock()
    entra = EntraIDCredentials(FakeCredential(clock), clock=clock)
    server = Server(accepted=None)
    stack = Retry(provider(server, entra), max_retries=4, base_delay=0.0)
    with pytest.raises(AuthenticationError) as caught:
        if stream:
            async for _ in stack.stream(REQUEST):
                pass
        else:
            await stack.complete(REQUEST)
    assert server.tokens == ["token-1", "token-2"]  # Retry adds no attempt
    assert "rejected again after refreshing" in caught.value.message
    assert caught.value.provider == "azure"


async def test_a_refresh_that_gives_the_same_token_is_not_sent_again() -> None:
    clock = Clock()
    entra = EntraIDCredentials(FakeCredential(clock, same_token=True), clock=clock)
    server = Server(accepted=None)
    with pytest.raises(AuthenticationError):
        await provider(server, entra).complete(REQUEST)
    assert server.tokens == ["token-1"]


def test_the_request_body_is_unchanged_by_the_auth() -> None:
    async def body() -> dict[str, Any]:
        clock = Clock()
        entra = EntraIDCredentials(FakeCredential(clock), clock=clock)
        sent: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(200, headers=JSON, content=ok_body("openai", "Hi"))

        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        llm = AzureOpenAIProvider(
            ModelConfig("azure", "dep", max_output_tokens=10),
            endpoint="https://res.openai.azure.com",
            credentials=entra,
            http_client=client,
        )
        await llm.complete(REQUEST)
        decoded: dict[str, Any] = json.loads(sent[0].content)
        return decoded

    assert asyncio.run(body()) == {
        "model": "dep",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 10,
    }
