"""The secret-hygiene suite, extended to Azure OpenAI (key and Entra ID token) and a profile.

As in test_secret_hygiene: the stack (Tracing with content capture on span and event, Retry
told to retry authentication errors, Recorder) runs over real loopback sockets for a success,
a stream and 401s (complete and stream), then the `complete` command (success, stream, 401).
Every repr, error (str, repr, context, traceback), DEBUG log record, span, event, metric,
cassette and the command's output is gathered; no key or token, nor its last eight
characters, may appear. The Entra ID credential hands out a new token on every fetch, so the
401s also exercise the refresh, and every token it issued is checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ashford_llm import ChatMessage, CompletionRequest, LLMError, ModelConfig
from ashford_llm.cli import main
from ashford_llm.middleware import Recorder
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers import AzureOpenAIProvider, EntraIDCredentials, OpenAICompatibleProvider
from ashford_llm.testing import MockProvider
from tests.reliability._loopback import Answer, LoopbackServer, loopback, sse_answer
from tests.reliability.hygiene import (
    JSON,
    REQUEST,
    Telemetry,
    everything_seen,
    fake_key,
    hygiene_stack,
    leaks,
    logger_roots,
    masked,
    seen_error,
    seen_in_answers,
    seen_in_failures,
)
from tests.reliability.vendors import error_body, ok_body, sse_events

AZURE_KEY = fake_key("az-test-")
GROQ_KEY = fake_key("gsk_test_")


class IssuedTokens:
    """An azure-identity-shaped credential issuing a new random token on every get_token."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        token = fake_key("eyJ0eXAi.")
        self.issued.append(token)
        return AccessToken(token, 2_000_000_000)


def denied() -> Answer:
    return Answer(status=401, headers=JSON, body=error_body("openai", 401, "invalid key"))


def script(refreshes: bool) -> list[Answer]:
    """Success, stream, then a 401 for every request of two calls of two Retry attempts."""
    per_attempt = 2 if refreshes else 1  # a new token is sent once more after its refresh
    return [
        Answer(headers=JSON, body=ok_body("openai", "Hello!")),
        sse_answer(sse_events("openai", ["Hel", "lo!"])),
        *[denied() for _ in range(4 * per_attempt)],
    ]


Build = Callable[[str], LLMProvider]


def azure_key(url: str) -> LLMProvider:
    return AzureOpenAIProvider(ModelConfig("azure", "dep"), endpoint=url, api_key=AZURE_KEY)


def groq_key(url: str) -> LLMProvider:
    return OpenAICompatibleProvider(
        ModelConfig("groq", "llama"), base_url=f"{url}/v1", api_key=GROQ_KEY
    )


async def run_stack(
    build: Build, telemetry: Telemetry, cassette: Path, *, refreshes: bool
) -> tuple[list[str], LoopbackServer]:
    """Drives the stack through success, stream and 401s; returns what the caller saw."""
    seen: list[str] = []
    async with loopback(script(refreshes)) as server:
        provider = build(server.url)
        recorder = Recorder(provider)
        stack = hygiene_stack(telemetry, recorder)
        seen += [repr(stack), repr(provider), repr(recorder)]
        seen.append(repr(getattr(provider, "credentials", None)))
        async with stack:
            seen += await seen_in_answers(stack)
            seen += await seen_in_failures(stack)
        recorder.save(cassette)
        seen.append(cassette.read_text())
    return seen, server


async def run_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """Runs `ashford-llm complete` on azure and groq for a success, a stream and a 401."""
    answers = [
        Answer(headers=JSON, body=ok_body("openai", "Hello!")),
        sse_answer(sse_events("openai", ["Hel", "lo!"])),
        denied(),
    ]
    statuses = []
    for vendor, key in (("azure", AZURE_KEY), ("groq", GROQ_KEY)):
        async with loopback(list(answers)) as server:
            if vendor == "azure":
                monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
                monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
                base = ["complete", "Say hello", "--provider", "azure", "--model", "dep"]
            else:
                monkeypatch.setenv("GROQ_API_KEY", key)
                config = tmp_path / "groq.toml"
                config.write_text(
                    f'[model]\nprovider = "groq"\nmodel = "llama"\n\n'
                    f'[provider]\nbase_url = "{server.url}/v1"\n'
                )
                base = ["complete", "Say hello", "--config", str(config)]
            for extra in ([], ["--stream"], []):
                statuses.append(await asyncio.to_thread(main, [*base, *extra]))
            header = "api-key" if vendor == "azure" else "authorization"
            assert [key in headers[header] for headers in server.requests] == [True] * 3
    assert statuses == [0, 0, 3] * 2
    captured = capsys.readouterr()
    return [captured.out, captured.err]


def test_no_azure_or_profile_credential_appears_anywhere(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    telemetry = Telemetry()
    tokens = IssuedTokens()
    seen: list[str] = []

    def azure_entra(url: str) -> LLMProvider:
        entra = EntraIDCredentials(tokens)
        return AzureOpenAIProvider(ModelConfig("azure", "dep"), endpoint=url, credentials=entra)

    async def everything() -> None:
        for name, build, refreshes, header in (
            ("azure-key", azure_key, False, "api-key"),
            ("azure-entra", azure_entra, True, "authorization"),
            ("groq", groq_key, False, "authorization"),
        ):
            found, server = await run_stack(
                build, telemetry, tmp_path / f"{name}.json", refreshes=refreshes
            )
            seen.extend(found)
            assert len(server.requests) == (10 if refreshes else 6), name
            assert all(header in headers for headers in server.requests)  # keys went out
        seen.extend(await run_commands(tmp_path, monkeypatch, capsys))

    asyncio.run(everything())
    assert {"ashford_llm", "httpx2", "httpcore2"} <= logger_roots(caplog)
    assert any("Hello!" in text for text in telemetry.dump())  # content capture really was on
    assert len(tokens.issued) == 5  # the first token, and one refresh per 401'd attempt
    named = {"azure key": AZURE_KEY, "groq key": GROQ_KEY}
    named |= {f"entra token {index}": token for index, token in enumerate(tokens.issued)}
    assert leaks(everything_seen(seen, telemetry, caplog), named) == []


def test_the_search_finds_a_key_pasted_into_a_prompt(caplog: pytest.LogCaptureFixture) -> None:
    """The search above can fail: content capture records a key pasted into a message."""
    telemetry = Telemetry()
    request = CompletionRequest([ChatMessage.user(f"Why is {GROQ_KEY} refused?")])

    async def call() -> None:
        async with hygiene_stack(telemetry, Recorder(MockProvider(["Hello!"]))) as stack:
            await stack.complete(request)

    asyncio.run(call())
    seen = everything_seen([], telemetry, caplog)
    assert leaks(seen, {"azure key": AZURE_KEY, "groq key": GROQ_KEY}) == ["groq key"]


@pytest.mark.parametrize("stars", [5, 40])
@pytest.mark.parametrize("vendor", ["azure", "groq"])
def test_a_masked_key_the_vendor_echoes_is_redacted(vendor: str, stars: int) -> None:
    key = (AZURE_KEY if vendor == "azure" else GROQ_KEY)[:-4] + "Qz7X"  # a tail no line holds
    message = f"Incorrect API key provided: {masked(key, stars)}. You can find your API key at"
    answer = Answer(status=401, headers=JSON, body=error_body("openai", 401, message))

    async def call() -> LLMError:
        async with loopback([answer, answer]) as server:
            provider: LLMProvider = (
                AzureOpenAIProvider(ModelConfig("azure", "dep"), endpoint=server.url, api_key=key)
                if vendor == "azure"
                else OpenAICompatibleProvider(
                    ModelConfig("groq", "llama"), base_url=f"{server.url}/v1", api_key=key
                )
            )
            async with provider:
                with pytest.raises(LLMError) as caught:
                    await provider.complete(REQUEST)
        return caught.value

    error = asyncio.run(call())
    seen = "\n".join(seen_error(error))
    assert "Incorrect API key provided" in error.message
    assert key[-4:] not in seen
    assert masked(key, stars) not in seen
