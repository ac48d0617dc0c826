"""Anthropic Messages as the fake server speaks it: bodies, events, error envelopes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode, sse

__all__ = ["FORMAT", "AnthropicFormat"]

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


class _Block(msgspec.Struct):
    type: str = "text"
    text: str = ""


class _Message(msgspec.Struct):
    role: str
    content: str | list[_Block]


class _OutputConfig(msgspec.Struct):
    format: dict[str, object] | None = None


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    max_tokens: int
    system: str | list[_Block] | None = None
    stream: bool = False
    output_config: _OutputConfig | None = None


_decoder = msgspec.json.Decoder(_Request)


def _text(content: str | list[_Block] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(block.text for block in content if block.type == "text")


def _error(type_: str, message: str, request_id: str) -> bytes:
    return encode(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    )


def _reset(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(answer: Answer, output_tokens: int) -> dict[str, object]:
    return {
        "input_tokens": answer.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


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
        messages = [(m.role, _text(m.content)) for m in request.messages]
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
        """Returns a `message` object."""
        return encode(
            {
                "model": request.model,
                "id": f"msg_{response_id}",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": answer.text}],
                "stop_reason": _STOP_REASONS[answer.finish],
                "stop_sequence": None,
                "usage": _usage(answer, answer.output_tokens),
            }
        )

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns message_start, content_block_start, ping, deltas, then the terminal events."""
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
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        return StreamPlan(
            head=(
                sse({"type": "message_start", "message": message}, event="message_start"),
                sse(block, event="content_block_start"),
                sse({"type": "ping"}, event="ping"),
            ),
            chunks=tuple(
                sse(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    event="content_block_delta",
                )
                for piece in answer.chunks
            ),
            tail=(
                sse({"type": "content_block_stop", "index": 0}, event="content_block_stop"),
                sse(
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": _STOP_REASONS[answer.finish],
                            "stop_sequence": None,
                        },
                        "usage": {"output_tokens": answer.output_tokens},
                    },
                    event="message_delta",
                ),
                sse({"type": "message_stop"}, event="message_stop"),
            ),
        )

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
