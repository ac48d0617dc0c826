"""Bedrock's credentials reach nothing a user can see or store, as for the other providers.

The secret access key, the session token and a Bedrock API key are random, so no redaction
by shape can hide them. One test runs BedrockProvider under Tracing (content capture on),
Retry and Recorder against the fake server over a loopback socket: a SigV4-signed success
(its first attempt throttled) and stream with temporary credentials, then a wrong secret
(403 InvalidSignatureException) and a wrong API key (403); then the `complete` command with the
credentials in the environment. It gathers every repr, error, log record at DEBUG (botocore's
included), span, event and metric, the cassette and the command's output, and asserts the
secrets, and their last eight characters, appear nowhere. Another test shows the check
catches a leak: botocore's own `add_auth` logs the session token at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ashford_llm import ModelConfig
from ashford_llm.cli import main
from ashford_llm.middleware import Recorder
from ashford_llm.providers.bedrock import BedrockProvider
from ashford_llm.testing.fake_server import FakeProviderServer, Fault
from ashford_llm.testing.fake_server import bedrock as fake_bedrock
from tests.reliability.hygiene import (
    Telemetry,
    everything_seen,
    hygiene_stack,
    leaks,
    logger_roots,
    random_text,
    seen_in_answers,
    seen_in_failures,
)

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"

ACCESS_KEY = "AKIDHYGIENE" + random_text(9).upper()
SECRET_KEY = random_text(40)
SESSION_TOKEN = random_text(64)
WRONG_SECRET = random_text(40)
API_KEY = "ABSK" + random_text(48)
SECRETS = {
    "secret key": SECRET_KEY,
    "session token": SESSION_TOKEN,
    "wrong secret": WRONG_SECRET,
    "api key": API_KEY,
}


@pytest.fixture(autouse=True)
def _server_knows_the_random_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_bedrock, "TEST_KEYS", {ACCESS_KEY: SECRET_KEY})
    for name in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def build(url: str, client: httpx.AsyncClient, **auth: Any) -> BedrockProvider:
    return BedrockProvider(
        ModelConfig("bedrock", MODEL),
        region="us-east-1",
        base_url=url,
        http_client=client,
        **auth,
    )


async def run_stack(telemetry: Telemetry, cassette: Path) -> list[str]:
    """Success and stream signed with temporary credentials, then a wrong secret and key."""
    seen: list[str] = []
    # A throttled first attempt makes Retry log (ashford_llm's logger) before its success.
    server = FakeProviderServer(
        api_key="ABSK" + random_text(48), script=[Fault.rate_limit], retry_after=0.0
    )
    sent: list[httpx.Headers] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request.headers)

    async with (
        server.run() as running,
        httpx.AsyncClient(event_hooks={"request": [keep]}) as client,
    ):
        url = running.base_url("bedrock")
        temporary = Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
        providers = [
            build(url, client, aws_credentials=temporary),
            build(url, client, aws_credentials=Credentials(ACCESS_KEY, WRONG_SECRET)),
            build(url, client, api_key=API_KEY),
        ]
        for index, provider in enumerate(providers):
            recorder = Recorder(provider)
            stack = hygiene_stack(telemetry, recorder)
            seen += [repr(stack), repr(provider), repr(provider.signer), repr(recorder)]
            if index == 0:
                seen += await seen_in_answers(stack)
            else:
                seen += await seen_in_failures(stack)
            recorder.save(cassette)
            seen.append(cassette.read_text())
    # The credentials really went out (so the test means something).
    tokens = [headers.get("x-amz-security-token") for headers in sent]
    assert tokens.count(SESSION_TOKEN) == 3  # the throttled attempt, its retry, the stream
    assert any(headers.get("authorization") == f"Bearer {API_KEY}" for headers in sent)
    assert server.stats.successes == 2
    return seen


async def run_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """Runs `ashford-llm complete --provider bedrock`, credentials from the environment."""
    server = FakeProviderServer()
    async with server.run() as running:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", running.base_url("bedrock"))
        base = ["complete", "Say hello", "--provider", "bedrock", "--model", MODEL]
        statuses = [await asyncio.to_thread(main, [*base, *extra]) for extra in ([], ["--stream"])]
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
        statuses.append(await asyncio.to_thread(main, base))
    assert statuses == [0, 0, 2]
    assert server.stats.successes == 2
    captured = capsys.readouterr()
    return [captured.out, captured.err]


def test_no_aws_credential_appears_in_anything_a_user_can_see_or_store(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    telemetry = Telemetry()
    seen: list[str] = []

    async def everything() -> None:
        seen.extend(await run_stack(telemetry, tmp_path / "bedrock.json"))
        seen.extend(await run_command(monkeypatch, capsys))

    asyncio.run(everything())
    # DEBUG logging really was on
    assert {"ashford_llm", "httpx", "httpcore", "botocore"} <= logger_roots(caplog)
    assert any("Say hello" in text for text in telemetry.dump())  # content capture really was on
    assert leaks(everything_seen(seen, telemetry, caplog), SECRETS) == []


def test_the_check_catches_botocores_add_auth_logging_the_session_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Why the signer calls SigV4Auth's steps itself: add_auth logs the canonical request.
    caplog.set_level(logging.DEBUG, logger="botocore.auth")
    request = AWSRequest(method="POST", url="https://b.test/model/m/converse", data=b"{}")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", "us-east-1").add_auth(
        request
    )
    seen = everything_seen([], Telemetry(), caplog)
    assert leaks(seen, SECRETS) == ["session token"]
