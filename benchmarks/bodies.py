"""Canned vendor answers, byte for byte the same for every client under test.

The completion bodies mirror what OpenAI Chat Completions and Anthropic Messages return today
(ids, usage details, system fingerprint); the answer text is a small JSON object, so the
recommended stack's JsonValidation has real work to do. The streams carry `STREAM_CHUNKS`
text chunks (together one JSON object) followed by each vendor's terminal events.
"""

from __future__ import annotations

import json

STREAM_CHUNKS = 1000
MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
ANSWER = '{"city": "Paris", "country": "France", "population": 2102650}'
PROMPT = "Name the capital of France as a JSON object with city, country and population."
SYSTEM = "You answer with one JSON object and nothing else."

OPENAI_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-CZ4gk0Xr3QkYb8wQfXwLr6H1uKz9d",
        "object": "chat.completion",
        "created": 1764140000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": ANSWER,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 31,
            "completion_tokens": 19,
            "total_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }
).encode()

ANTHROPIC_COMPLETION = json.dumps(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 38,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 24,
            "service_tier": "standard",
        },
    }
).encode()


def _piece(i: int, chunks: int) -> str:
    """Returns the text of chunk `i`: together the chunks spell one JSON object."""
    text = f'{{"words": ["w{i}"' if i == 0 else f', "w{i}"'
    return text + "]}" if i == chunks - 1 else text


def _sse(data: object, event: str | None = None) -> str:
    """Formats one Server-Sent Event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _openai_stream(chunks: int) -> bytes:
    """Builds a Chat Completions stream of `chunks` text deltas, usage and [DONE]."""
    base = {
        "id": "chatcmpl-CZ4gk0Xr3QkYb8wQfXwLr6H1uKz9d",
        "object": "chat.completion.chunk",
        "created": 1764140000,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }
    parts = [
        _sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
                "usage": None,
            }
        )
    ]
    for i in range(chunks):
        choice = {"index": 0, "delta": {"content": _piece(i, chunks)}, "logprobs": None}
        parts.append(_sse({**base, "choices": [{**choice, "finish_reason": None}], "usage": None}))
    parts.append(
        _sse(
            {
                **base,
                "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
                "usage": None,
            }
        )
    )
    usage = {
        "prompt_tokens": 31,
        "completion_tokens": chunks,
        "total_tokens": 31 + chunks,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    parts.append(_sse({**base, "choices": [], "usage": usage}))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def _anthropic_stream(chunks: int) -> bytes:
    """Builds a Messages stream of `chunks` text deltas and its terminal events."""
    message = json.loads(ANTHROPIC_COMPLETION)
    message.update(content=[], stop_reason=None)
    message["usage"]["output_tokens"] = 1
    parts = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    for i in range(chunks):
        delta = {"type": "text_delta", "text": _piece(i, chunks)}
        event = {"type": "content_block_delta", "index": 0, "delta": delta}
        parts.append(_sse(event, "content_block_delta"))
    parts.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    parts.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": chunks},
            },
            "message_delta",
        )
    )
    parts.append(_sse({"type": "message_stop"}, "message_stop"))
    return "".join(parts).encode()


OPENAI_STREAM = _openai_stream(STREAM_CHUNKS)
ANTHROPIC_STREAM = _anthropic_stream(STREAM_CHUNKS)
