"""The aiohttp transport helper: a clear error without the extra, a working client with it."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.providers import OpenAIProvider, aiohttp_client

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello over aiohttp"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
).encode()


async def answer_one_completion(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads one HTTP request and answers it with a canned chat completion."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(COMPLETION), COMPLETION)
    )
    await writer.drain()
    writer.close()


def test_aiohttp_client_names_the_extra_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"ashford-llm\[aiohttp\]") as caught:
        aiohttp_client()
    assert caught.value.name == "httpx_aiohttp"
    assert isinstance(caught.value.__cause__, ImportError)


def test_aiohttp_client_rejects_limits_that_are_not_httpx_limits() -> None:
    with pytest.raises(TypeError, match=r"limits must be an httpx\.Limits"):
        aiohttp_client(limits={"max_connections": 10})  # type: ignore[arg-type]


def test_aiohttp_client_rejects_a_timeout_that_is_not_an_httpx_timeout() -> None:
    with pytest.raises(TypeError, match=r"timeout must be an httpx\.Timeout"):
        aiohttp_client(timeout=5.0)  # type: ignore[arg-type]


async def test_aiohttp_client_serves_a_provider_call() -> None:
    pytest.importorskip("httpx_aiohttp", reason="the aiohttp extra is not installed")
    server = await asyncio.start_server(answer_one_completion, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aiohttp_client(limits=httpx.Limits(max_connections=4))
    try:
        assert type(client._transport).__name__ == "AiohttpTransport"
        provider = OpenAIProvider(
            ModelConfig(provider="openai", model="gpt-4o-mini"),
            api_key="sk-test-0000",
            base_url=f"http://127.0.0.1:{port}/v1",
            http_client=client,
        )
        response = await provider.complete(CompletionRequest(messages=[ChatMessage.user("hi")]))
        assert response.content == "hello over aiohttp"
        assert response.output_tokens == 4
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
