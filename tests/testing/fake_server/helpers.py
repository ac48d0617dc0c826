"""Raw-httpx requests to the fake server and readers of its three wire formats."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY = "test-key"
VENDORS = ("openai", "anthropic", "gemini")
MODELS = {"openai": "gpt-test", "anthropic": "claude-test", "gemini": "gemini-test"}


def request_parts(
    vendor: str,
    text: str,
    *,
    stream: bool = False,
    max_tokens: int | None = None,
    key: str | None = KEY,
    json_mode: bool = False,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Returns (path, headers, body) of a vendor request asking `text`."""
    model = MODELS[vendor]
    headers: dict[str, str] = {}
    if vendor == "openai":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        if max_tokens is not None:
            body["max_completion_tokens"] = max_tokens
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return "/chat/completions", headers, body
    if vendor == "anthropic":
        body = {
            "model": model,
            "max_tokens": max_tokens or 1024,
            "messages": [{"role": "user", "content": text}],
        }
        if stream:
            body["stream"] = True
        if key is not None:
            headers["x-api-key"] = key
        headers["anthropic-version"] = "2023-06-01"
        return "/v1/messages", headers, body
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    config: dict[str, Any] = {}
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if json_mode:
        config["responseMimeType"] = "application/json"
    if config:
        body["generationConfig"] = config
    if key is not None:
        headers["x-goog-api-key"] = key
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{method}", headers, body


async def post(client: httpx.AsyncClient, vendor: str, text: str, **options: Any) -> httpx.Response:
    """Sends one vendor request and returns the whole response."""
    path, headers, body = request_parts(vendor, text, **options)
    return await client.post(path, headers=headers, json=body)


@dataclass
class Plain:
    """The parts of a plain response tests compare."""

    text: str
    input_tokens: int
    output_tokens: int
    finish: str


def read_plain(vendor: str, body: dict[str, Any]) -> Plain:
    """Reads text, usage and finish reason from a vendor's plain response body."""
    if vendor == "openai":
        choice = body["choices"][0]
        usage = body["usage"]
        return Plain(
            choice["message"]["content"],
            usage["prompt_tokens"],
            usage["completion_tokens"],
            choice["finish_reason"],
        )
    if vendor == "anthropic":
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        usage = body["usage"]
        return Plain(text, usage["input_tokens"], usage["output_tokens"], body["stop_reason"])
    candidate = body["candidates"][0]
    usage = body["usageMetadata"]
    return Plain(
        "".join(p["text"] for p in candidate["content"]["parts"]),
        usage["promptTokenCount"],
        usage["candidatesTokenCount"],
        candidate["finishReason"],
    )


@dataclass
class Streamed:
    """What a stream delivered: text pieces, whether it ended properly, any error, usage."""

    pieces: list[str] = field(default_factory=list)
    terminal: bool = False
    error: dict[str, Any] | None = None
    finish: str | None = None
    output_tokens: int | None = None
    undecodable: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _events(raw: str) -> list[tuple[str | None, str]]:
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line.strip():
                data.append(line)  # a bare JSON error object (Gemini)
        if data:
            events.append((name, "\n".join(data)))
    return events


def read_stream(vendor: str, raw: str) -> Streamed:
    """Reads a vendor's whole SSE body (stops at the terminal event, as a client does)."""
    result = Streamed()
    for name, data in _events(raw):
        if vendor == "openai" and data == "[DONE]":
            result.terminal = True
            break
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            result.undecodable.append(data)
            continue
        if "error" in payload and (vendor != "anthropic" or name == "error"):
            result.error = payload["error"]
            continue
        if vendor == "openai":
            if payload["choices"]:
                choice = payload["choices"][0]
                result.pieces.append(choice["delta"].get("content") or "")
                result.finish = choice["finish_reason"] or result.finish
            if payload.get("usage"):
                result.output_tokens = payload["usage"]["completion_tokens"]
        elif vendor == "anthropic":
            if name == "content_block_delta":
                result.pieces.append(payload["delta"]["text"])
            elif name == "message_delta":
                result.finish = payload["delta"]["stop_reason"]
                result.output_tokens = payload["usage"]["output_tokens"]
            elif name == "message_stop":
                result.terminal = True
                break
        else:
            candidate = payload["candidates"][0]
            result.pieces.extend(p["text"] for p in candidate["content"]["parts"])
            if "finishReason" in candidate:
                result.finish = candidate["finishReason"]
                result.output_tokens = payload["usageMetadata"]["candidatesTokenCount"]
                result.terminal = True
    return result
