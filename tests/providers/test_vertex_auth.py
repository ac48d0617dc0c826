"""Google access tokens: fetched lazily in a worker thread, renewed before expiry and once on 401.

A stub stands in for a google-auth credentials object (token, expiry, refresh(request)); one
test uses google-auth's own `google.oauth2.credentials.Credentials`, which needs no network
while its token is fresh.
"""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.errors import AuthenticationError, MissingCredentialsError, NetworkError
from ashford_llm.providers.vertex import GoogleAuthCredentials, vertex_provider
from ashford_llm.providers.vertex import auth as vertex_auth

REQUEST = CompletionRequest([ChatMessage.user("Hi")])
OK = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Hello!"}]}, "finishReason": "STOP"}
    ]
}
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials.",
        "status": "UNAUTHENTICATED",
    }
}


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Stub:
    """A google-auth-like credentials object: each refresh mints `ya29.token-<n>`, 1 h long."""

    def __init__(self, token: str | None = None, expires_in: float | None = None) -> None:
        self.token = token
        self.expiry = (
            None if expires_in is None else utcnow() + datetime.timedelta(seconds=expires_in)
        )
        self.refreshes = 0
        self.threads: list[int] = []
        self.requests: list[Any] = []

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.threads.append(threading.get_ident())
        self.requests.append(request)
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = utcnow() + datetime.timedelta(hours=1)


def credentials(stub: Any, **options: Any) -> GoogleAuthCredentials:
    return GoogleAuthCredentials(stub, request_factory=lambda: "request", **options)


async def test_nothing_is_fetched_until_the_first_call_then_it_runs_in_a_thread() -> None:
    stub = Stub()
    creds = credentials(stub)
    assert stub.refreshes == 0
    assert await creds.get() == "ya29.token-1"
    assert stub.refreshes == 1
    assert stub.threads[0] != threading.get_ident()  # blocking refresh kept off the loop
    assert stub.requests == ["request"]
    assert await creds.get() == "ya29.token-1"  # fresh: not refreshed again
    assert stub.refreshes == 1


@pytest.mark.parametrize(
    ("expires_in", "refreshed"),
    [(3600, False), (301, False), (299, True), (10, True), (-60, True)],
)
async def test_a_token_is_renewed_within_the_margin_of_its_expiry(
    expires_in: float, refreshed: bool
) -> None:
    stub = Stub("ya29.old", expires_in)
    token = await credentials(stub, refresh_margin=300).get()
    assert token == ("ya29.token-1" if refreshed else "ya29.old")
    assert stub.refreshes == int(refreshed)


async def test_a_token_without_expiry_is_kept_and_refresh_renews_anyway() -> None:
    stub = Stub("ya29.forever")
    creds = credentials(stub)
    assert await creds.get() == "ya29.forever"
    assert await creds.refresh() == "ya29.token-1"
    assert stub.refreshes == 1


async def test_concurrent_first_calls_share_one_refresh() -> None:
    stub = Stub()
    creds = credentials(stub)
    tokens = await asyncio.gather(*(creds.get() for _ in range(8)))
    assert set(tokens) == {"ya29.token-1"}
    assert stub.refreshes == 1


async def test_google_auth_s_own_credentials_work_without_network() -> None:
    from google.oauth2.credentials import Credentials

    token = "ya29.real-google-auth-object-0123"
    real = Credentials(token=token, expiry=utcnow() + datetime.timedelta(hours=1))
    assert await GoogleAuthCredentials(real).get() == token
    # Within the margin, it must refresh; without a refresh token google-auth refuses, locally.
    stale = Credentials(token=token, expiry=utcnow() + datetime.timedelta(seconds=60))
    with pytest.raises(AuthenticationError) as caught:
        await GoogleAuthCredentials(stale).get()
    assert "RefreshError" in caught.value.message
    assert token not in str(caught.value)


def test_the_default_request_is_google_auth_s_requests_transport() -> None:
    from google.auth.transport.requests import Request

    assert isinstance(vertex_auth._transport_request(), Request)


class Failing:
    token = None
    expiry = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    def refresh(self, request: Any) -> None:
        raise self.error


async def test_refresh_failures_map_to_the_error_tree_without_the_token() -> None:
    from google.auth import exceptions

    unreachable = Failing(exceptions.TransportError("metadata server unreachable"))
    with pytest.raises(NetworkError, match="metadata server unreachable"):
        await credentials(unreachable).get()
    transient = Failing(exceptions.RefreshError("try again", retryable=True))
    with pytest.raises(NetworkError):
        await credentials(transient).get()
    revoked = Failing(
        exceptions.RefreshError("invalid_grant: Bearer ya29.leaked-token-0123456789 revoked")
    )
    with pytest.raises(AuthenticationError) as caught:
        await credentials(revoked).get()
    assert "invalid_grant" in caught.value.message
    assert "ya29.leaked-token-0123456789" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_credentials_that_give_no_token_are_an_authentication_error() -> None:
    class Empty(Stub):
        def refresh(self, request: Any) -> None:
            self.refreshes += 1

    with pytest.raises(AuthenticationError, match="no access token"):
        await credentials(Empty()).get()


async def test_adc_are_loaded_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth

    stub = Stub()
    calls: list[Any] = []

    def default(scopes: Any = None, **_: Any) -> tuple[Stub, str]:
        calls.append(scopes)
        return stub, "adc-project"

    monkeypatch.setattr(google.auth, "default", default)
    creds = GoogleAuthCredentials(request_factory=lambda: None)
    assert calls == []
    assert "ADC" in repr(creds)
    assert await creds.get() == "ya29.token-1"
    assert await creds.get() == "ya29.token-1"
    assert calls == [["https://www.googleapis.com/auth/cloud-platform"]]


async def test_missing_adc_is_a_missing_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth import exceptions

    def default(**_: Any) -> Any:
        raise exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", default)
    with pytest.raises(MissingCredentialsError, match="default credentials were not found"):
        await GoogleAuthCredentials().get()


async def test_without_google_auth_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    with pytest.raises(MissingCredentialsError, match=r"ashford-llm\[vertex\]"):
        await GoogleAuthCredentials().get()


def test_the_repr_shows_no_token_and_options_are_checked() -> None:
    stub = Stub("ya29.secret-token-in-repr", 3600)
    assert "ya29" not in repr(credentials(stub))
    with pytest.raises(ValueError, match="refresh_margin"):
        GoogleAuthCredentials(stub, refresh_margin=-1)
    with pytest.raises(TypeError, match="refresh_margin"):
        GoogleAuthCredentials(stub, refresh_margin=True)
    with pytest.raises(TypeError, match="google-auth credentials"):
        GoogleAuthCredentials(object())  # type: ignore[arg-type]


def vertex(stub: Stub, accepted: set[str], sent: list[str], *, margin: float = 300) -> Any:
    """A Vertex Gemini provider over a mock that accepts only the `accepted` tokens."""

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        sent.append(token)
        if token in accepted:
            return httpx.Response(200, json=OK)
        return httpx.Response(401, json=UNAUTHENTICATED)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    provider = vertex_provider(
        ModelConfig("vertex", "gemini-2.5-flash"), project="p", http_client=client
    )
    provider.credentials = credentials(stub, refresh_margin=margin)
    return provider


async def test_a_401_refreshes_exactly_once_and_sends_the_new_token() -> None:
    stub = Stub("ya29.revoked", 3600)
    sent: list[str] = []
    async with vertex(stub, {"ya29.token-1"}, sent) as provider:
        response = await provider.complete(REQUEST)
    assert response.content == "Hello!"
    assert sent == ["ya29.revoked", "ya29.token-1"]
    assert stub.refreshes == 1


async def test_a_401_after_the_refresh_is_not_refreshed_again() -> None:
    stub = Stub("ya29.revoked", 3600)
    sent: list[str] = []
    async with vertex(stub, set(), sent) as provider:
        with pytest.raises(AuthenticationError, match="rejected again after refreshing"):
            await provider.complete(REQUEST)
        with pytest.raises(AuthenticationError):
            async for _ in provider.stream(REQUEST):
                pass
    assert stub.refreshes == 2  # one per call, never two in one call
    assert sent == ["ya29.revoked", "ya29.token-1", "ya29.token-1", "ya29.token-2"]


async def test_the_provider_renews_an_expiring_token_before_sending() -> None:
    stub = Stub("ya29.expiring", 120)
    sent: list[str] = []
    async with vertex(stub, {"ya29.token-1"}, sent) as provider:
        await provider.complete(REQUEST)
        await provider.complete(REQUEST)
    assert sent == ["ya29.token-1", "ya29.token-1"]
    assert stub.refreshes == 1


async def test_the_default_provider_credentials_are_lazy_adc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import google.auth

    def default(**_: Any) -> Any:
        raise AssertionError("ADC must not be loaded when the provider is built")

    monkeypatch.setattr(google.auth, "default", default)
    provider = vertex_provider(ModelConfig("vertex", "claude-sonnet-4-5"), project="p")
    assert isinstance(provider.credentials, GoogleAuthCredentials)
    await provider.aclose()


def test_building_a_vertex_provider_does_not_import_google_auth() -> None:
    probe = (
        "import sys\n"
        "from ashford_llm import ModelConfig\n"
        "from ashford_llm.providers.vertex import vertex_provider\n"
        "vertex_provider(ModelConfig('vertex', 'gemini-2.5-flash'), project='p')\n"
        "print('google.auth' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
