"""Minimal valid vendor bodies and provider factories shared by the reliability tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from ashford_llm import ModelConfig
from ashford_llm.providers import AnthropicProvider, GoogleProvider, OpenAIProvider
from ashford_llm.providers.provider import HTTPProvider

__all__ = [
    "VENDORS",
    "error_body",
    "make_provider",
    "ok_body",
    "sse_events",
]

VENDORS = ("openai", "anthropic", "google")
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}


def make_provider(
    vendor: str, base: str, client: httpx.AsyncClient | None, **options: Any
) -> HTTPProvider:
    """Builds `vendor`'s provider against `base` (a server root URL) with `client`."""
    config = ModelConfig(vendor, MODELS[vendor], max_output_tokens=64)
    if client is not None:
        options["http_client"] = client
    factories: dict[str, Callable[..., HTTPProvider]] = {
        "openai": lambda: OpenAIProvider(config, base_url=f"{base}/v1", **options),
        "anthropic": lambda: AnthropicProvider(config, base_url=base, **options),
        "google": lambda: GoogleProvider(config, base_url=base, **options),
    }
    return factories[vendor]()


def _sse(data: object, event: str | None = None) -> str:
    """Frames one SSE event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def ok_body(vendor: str, text: str) -> bytes:
    """A whole successful answer carrying `text`."""
    body: dict[str, Any]
    if vendor == "openai":
        body = {
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    elif vendor == "anthropic":
        body = {
            "id": "msg_1",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 2},
        }
    else:
        body = {
            "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
    return json.dumps(body).encode()


def sse_events(vendor: str, pieces: list[str], *, end: bool = True) -> list[str]:
    """The vendor's stream events for `pieces` of text, with its ending when `end`."""
    if vendor == "openai":

        def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {"id": "c1", "model": "gpt-4o-mini", "choices": [choice]}

        events = [_sse(chunk({"content": piece}, None)) for piece in pieces]
        if end:
            usage = {"prompt_tokens": 3, "completion_tokens": 2}
            events += [_sse(chunk({}, "stop")), _sse({"id": "c1", "choices": [], "usage": usage})]
            events.append("data: [DONE]\n\n")
        return events
    if vendor == "anthropic":
        start = {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3}},
        }
        events = [_sse(start, "message_start")]
        events += [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
                "content_block_delta",
            )
            for p in pieces
        ]
        if end:
            stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
            events += [
                _sse({**stop, "usage": {"output_tokens": 2}}, "message_delta"),
                _sse({"type": "message_stop"}, "message_stop"),
            ]
        return events
    events = [_sse({"candidates": [{"content": {"parts": [{"text": p}]}}]}) for p in pieces]
    if end:
        events.append(
            _sse(
                {
                    "candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
                }
            )
        )
    return events


def error_body(vendor: str, status: int, message: str) -> bytes:
    """The vendor's error envelope for `status`."""
    if vendor == "openai":
        kind = "invalid_request_error" if status < 500 else "server_error"
        return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()
    if vendor == "anthropic":
        kind = "authentication_error" if status == 401 else "api_error"
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    rpc = "UNAUTHENTICATED" if status == 401 else "INTERNAL"
    return json.dumps({"error": {"code": status, "message": message, "status": rpc}}).encode()
