"""Anthropic Messages as the fake server speaks it: bodies, events, error envelopes.

Requests are read block by block: text, images and documents (their media types become the
request's `attachments`), thinking blocks in assistant turns, and `cache_control` marks (the
text up to the last one is the `cache_prefix`); tools and tool blocks are read and written by
`anthropic_tools`. A block the real API refuses gets its 400 message, e.g. an image media
type outside the four it takes, an image over 5 MB of base64, or a fifth cache breakpoint.
With thinking on (display not "omitted") the answer starts with a thinking block, streamed
as thinking and signature deltas.
"""

from __future__ import annotations

import base64
import hashlib
import math
import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest, split_words
from ashford_llm.testing.fake_server.anthropic_tools import (
    read_tools,
    stream_calls,
    tool_use_blocks,
    turns,
)
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode, sse

__all__ = ["FORMAT", "AnthropicFormat"]

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_MAX_IMAGE_BASE64 = 5 * 1024 * 1024
_MAX_CACHE_CONTROL = 4
_MIN_BUDGET = 1024
_TAGS = (
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
)
_EXPECTED_TAGS = ", ".join(f"'{tag}'" for tag in _TAGS)


class _Source(msgspec.Struct):
    type: str = ""
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class _Block(msgspec.Struct):
    type: str = "text"
    text: str = ""
    source: _Source | None = None
    cache_control: dict[str, object] | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None  # tool_use
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None  # tool_result
    content: str | list[dict[str, Any]] | None = None


class _Message(msgspec.Struct):
    role: str
    content: str | list[_Block]


class _OutputConfig(msgspec.Struct):
    format: dict[str, object] | None = None


class _Thinking(msgspec.Struct):
    type: str = ""
    budget_tokens: int | None = None
    display: str | None = None


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    max_tokens: int
    system: str | list[_Block] | None = None
    stream: bool = False
    output_config: _OutputConfig | None = None
    thinking: _Thinking | None = None
    temperature: float | None = None
    tools: list[Any] | None = None
    tool_choice: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(_Request)


def _text(content: str | list[_Block] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(block.text for block in content if block.type == "text")


def _attachment(block: _Block, where: str) -> str | None:
    """Checks an image or document block as the API does; returns its media type."""
    if block.type == "thinking" and (block.thinking is None or block.signature is None):
        field = "thinking" if block.thinking is None else "signature"
        raise BadRequest(f"{where}.thinking.{field}: Field required")
    if block.type == "redacted_thinking" and block.data is None:
        raise BadRequest(f"{where}.redacted_thinking.data: Field required")
    if block.type not in ("image", "document"):
        if block.type not in _TAGS:
            raise BadRequest(
                f"{where}: Input tag '{block.type}' found using 'type' does not match any of "
                f"the expected tags: {_EXPECTED_TAGS}"
            )
        return None
    source = block.source
    if source is None:
        raise BadRequest(f"{where}.{block.type}.source: Field required")
    path = f"{where}.{block.type}.source.{source.type}"
    if source.type == "url":
        if not source.url:
            raise BadRequest(f"{path}.url: Field required")
        if block.type == "document":
            return "application/pdf"
        return mimetypes.guess_type(source.url)[0] or "image/*"
    if source.type == "base64":
        if source.data is None:
            raise BadRequest(f"{path}.data: Field required")
        if block.type == "image":
            if source.media_type not in _IMAGE_TYPES:
                raise BadRequest(
                    f"{path}.media_type: Input should be 'image/jpeg', 'image/png', "
                    "'image/gif' or 'image/webp'"
                )
            if len(source.data) > _MAX_IMAGE_BASE64:
                raise BadRequest(
                    f"{where}.image.source.base64: image exceeds 5 MB maximum: "
                    f"{len(source.data)} bytes > {_MAX_IMAGE_BASE64} bytes"
                )
        elif source.media_type != "application/pdf":
            raise BadRequest(f"{path}.media_type: Input should be 'application/pdf'")
        return source.media_type
    if source.type == "text" and block.type == "document":
        if source.media_type != "text/plain":
            raise BadRequest(f"{path}.media_type: Input should be 'text/plain'")
        return "text/plain"
    raise BadRequest(
        f"{where}.{block.type}.source: Input tag '{source.type}' found using 'type' does not "
        "match any of the expected tags: 'base64', 'url', 'file'"
    )


def _read_blocks(
    request: _Request,
) -> tuple[list[str], list[tuple[int, str, bool]]]:
    """Checks every block; returns the media types sent and each block as (turn, text, mark).

    Turn 0 is the system prompt (when there is one), then each message in order.
    """
    attachments: list[str] = []
    blocks: list[tuple[int, str, bool]] = []
    system = request.system
    offset = 0 if system is None else 1
    if isinstance(system, list):
        for block in system:
            blocks.append(
                (0, block.text if block.type == "text" else "", bool(block.cache_control))
            )
    elif system is not None:
        blocks.append((0, system, False))
    for index, message in enumerate(request.messages):
        if isinstance(message.content, str):
            blocks.append((index + offset, message.content, False))
            continue
        for number, block in enumerate(message.content):
            media_type = _attachment(block, f"messages.{index}.content.{number}")
            if media_type is not None:
                attachments.append(media_type)
            text = block.text if block.type == "text" else ""
            blocks.append((index + offset, text, bool(block.cache_control)))
    return attachments, blocks


def _cache_prefix(blocks: list[tuple[int, str, bool]]) -> str:
    """Returns the text of the turns up to and including the last block with cache_control."""
    marked = [index for index, (_, _, mark) in enumerate(blocks) if mark]
    if len(marked) > _MAX_CACHE_CONTROL:
        raise BadRequest(
            f"A maximum of {_MAX_CACHE_CONTROL} blocks with cache_control may be provided. "
            f"Found {len(marked)}."
        )
    if not marked:
        return ""
    turns: dict[int, list[str]] = {}
    for turn, text, _ in blocks[: marked[-1] + 1]:
        turns.setdefault(turn, []).append(text)
    return "\n".join("".join(texts) for texts in turns.values())


def _wants_thinking(request: _Request) -> bool:
    """Checks the thinking settings as the API does; True when thinking text is asked for."""
    thinking = request.thinking
    if thinking is None or thinking.type not in ("enabled", "adaptive"):
        return False
    if thinking.type == "enabled":
        budget = thinking.budget_tokens
        if budget is None:
            raise BadRequest("thinking.enabled.budget_tokens: Field required")
        if budget < _MIN_BUDGET:
            raise BadRequest(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if budget >= request.max_tokens:
            raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if request.temperature is not None and request.temperature != 1:
        raise BadRequest(
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode."
        )
    return thinking.display != "omitted"


def _signature(reasoning: str) -> str:
    """A stand-in for Anthropic's opaque thinking signature."""
    return base64.b64encode(hashlib.sha256(reasoning.encode()).digest()).decode()


def _error(type_: str, message: str, request_id: str) -> bytes:
    return encode(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    )


def _reset(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(answer: Answer, output_tokens: int) -> dict[str, object]:
    """Anthropic's usage: `input_tokens` excludes the cache reads and writes."""
    written, read = answer.cache_write_tokens, answer.cached_tokens
    usage: dict[str, object] = {
        "input_tokens": max(0, answer.input_tokens - written - read),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if answer.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": answer.reasoning_tokens}
    return usage


class AnthropicFormat:
    """The Anthropic `POST /v1/messages` wire format."""

    name = "anthropic"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks `x-api-key` (or `Authorization: Bearer`) and requires `anthropic-version`."""
        key = headers.get("x-api-key", "")
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if not key and scheme.lower() == "bearer":
            key = bearer
        request_id = "req_fake_auth"
        if not key or (api_key is not None and key != api_key):
            message = "invalid x-api-key" if key else "x-api-key header is required"
            body = _error("authentication_error", message, request_id)
            return Reply(
                status=401,
                body=body,
                headers={"request-id": request_id, "x-should-retry": "false"},
            )
        if not headers.get("anthropic-version"):
            body = _error(
                "invalid_request_error", "anthropic-version: header is required", request_id
            )
            return Reply(status=400, body=body, headers={"request-id": request_id})
        return None

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a messages request (`max_tokens` is required, as by the real API)."""
        try:
            request = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"invalid request body: {exc}") from exc
        attachments, blocks = _read_blocks(request)
        messages = turns(request.messages)
        tools, choice, parallel = read_tools(request.tools, request.tool_choice)
        thinking = request.thinking
        if thinking is not None and thinking.type == "enabled" and choice not in ("auto", "none"):
            raise BadRequest("Thinking may not be enabled when tool_choice forces tool use.")
        if request.system is not None:
            messages.insert(0, ("system", _text(request.system)))
        config = request.output_config
        return AnswerRequest(
            vendor=self.name,
            model=request.model,
            messages=tuple(messages),
            json=config is not None and config.format is not None,
            max_tokens=request.max_tokens,
            stream=request.stream,
            attachments=tuple(attachments),
            reasoning=_wants_thinking(request),
            cache_prefix=_cache_prefix(blocks),
            tools=tools,
            tool_choice=choice,
            parallel_tool_calls=parallel,
        )

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns Anthropic's 400 `invalid_request_error`."""
        body = _error("invalid_request_error", message, request_id)
        return Reply(status=400, body=body, headers={"request-id": request_id})

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns `request-id` and the `anthropic-ratelimit-*` headers."""
        headers = {"request-id": request_id, "anthropic-organization-id": "fake-org"}
        for kind, limit in (
            ("requests", "4000"),
            ("tokens", "2400000"),
            ("input-tokens", "2000000"),
            ("output-tokens", "400000"),
        ):
            prefix = f"anthropic-ratelimit-{kind}"
            headers |= {
                f"{prefix}-limit": limit,
                f"{prefix}-remaining": limit,
                f"{prefix}-reset": _reset(1),
            }
        return headers

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a `message` object (a thinking block first when there is reasoning)."""
        content: list[dict[str, object]] = []
        if answer.reasoning:
            signature = _signature(answer.reasoning)
            content.append(
                {"type": "thinking", "thinking": answer.reasoning, "signature": signature}
            )
        if answer.calls:
            content += tool_use_blocks(answer.calls)
        else:
            content.append({"type": "text", "text": answer.text})
        return encode(
            {
                "model": request.model,
                "id": f"msg_{response_id}",
                "type": "message",
                "role": "assistant",
                "content": content,
                "stop_reason": _STOP_REASONS[answer.finish],
                "stop_sequence": None,
                "usage": _usage(answer, answer.output_tokens),
            }
        )

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns message_start, any thinking block, text deltas or tool_use blocks, the end."""
        message: dict[str, object] = {
            "model": request.model,
            "id": f"msg_{response_id}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(answer, 1),
        }
        head = [sse({"type": "message_start", "message": message}, event="message_start")]
        index = 0
        if answer.reasoning:
            head += self._thinking_events(answer.reasoning)
            index = 1
        finish = {"stop_reason": _STOP_REASONS[answer.finish], "stop_sequence": None}
        tail = [
            sse(
                {
                    "type": "message_delta",
                    "delta": finish,
                    "usage": {"output_tokens": answer.output_tokens},
                },
                event="message_delta",
            ),
            sse({"type": "message_stop"}, event="message_stop"),
        ]
        if answer.calls:
            frames = stream_calls(answer.calls, index)
            return StreamPlan(
                head=(*head, sse({"type": "ping"}, event="ping")),
                chunks=tuple(frames),
                tail=tuple(tail),
                texts=("",) * len(frames),
            )
        block = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        }
        head += [sse(block, event="content_block_start"), sse({"type": "ping"}, event="ping")]
        stop = sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
        return StreamPlan(
            head=tuple(head),
            chunks=tuple(
                sse(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    event="content_block_delta",
                )
                for piece in answer.chunks
            ),
            tail=(stop, *tail),
        )

    @staticmethod
    def _thinking_events(reasoning: str) -> list[bytes]:
        """Returns a thinking block at index 0: start, thinking deltas, signature, stop."""
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        }
        events = [sse(start, event="content_block_start")]
        for piece in split_words(reasoning):
            delta = {"type": "thinking_delta", "thinking": piece}
            events.append(
                sse(
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                    event="content_block_delta",
                )
            )
        signature = {"type": "signature_delta", "signature": _signature(reasoning)}
        events.append(
            sse(
                {"type": "content_block_delta", "index": 0, "delta": signature},
                event="content_block_delta",
            )
        )
        events.append(sse({"type": "content_block_stop", "index": 0}, event="content_block_stop"))
        return events

    def stream_error(self) -> bytes:
        """Returns an `event: error` frame (overloaded)."""
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return sse(error, event="error")

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Anthropic's reply for a status fault.

        Quota exhaustion is the documented spend-cap 429: `rate_limit_error` with no retry-after.
        """
        headers = {"request-id": request_id}
        if fault is Fault.rate_limit:
            headers |= {
                "retry-after": str(math.ceil(retry_after)),
                "retry-after-ms": str(round(retry_after * 1000)),
                "anthropic-ratelimit-tokens-limit": "2400000",
                "anthropic-ratelimit-tokens-remaining": "0",
                "anthropic-ratelimit-tokens-reset": _reset(retry_after),
            }
            message = (
                "This request would exceed your organization's rate limit of 2,400,000 tokens "
                "per minute."
            )
            return Reply(
                status=429, headers=headers, body=_error("rate_limit_error", message, request_id)
            )
        if fault is Fault.quota_exhausted:
            message = (
                "You have reached your specified API usage limits. You will regain access on "
                "2099-01-01 at 00:00 UTC."
            )
            return Reply(
                status=429, headers=headers, body=_error("rate_limit_error", message, request_id)
            )
        if fault is Fault.server_error:
            return Reply(
                status=500,
                headers=headers,
                body=_error("api_error", "Internal server error", request_id),
            )
        if fault is Fault.overloaded:
            return Reply(
                status=529,
                headers=headers,
                body=_error("overloaded_error", "Overloaded", request_id),
            )
        body = _error("api_error", "Service unavailable", request_id)
        return Reply(status=503, headers=headers, body=body)


FORMAT = AnthropicFormat()
