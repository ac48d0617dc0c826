"""Value types shared by every provider and layer: messages, requests, responses, stream events.

All are frozen msgspec Structs: derive a changed copy with `msgspec.structs.replace`. They
validate themselves on construction (and on decoding), so a bad role, a non-string content or
an empty message list fails here, never at a vendor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import msgspec

__all__ = [
    "ChatMessage",
    "CompletionRequest",
    "CompletionResponse",
    "FinishReason",
    "Role",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
]

Role: TypeAlias = Literal["system", "user", "assistant"]
FinishReason: TypeAlias = Literal["stop", "length", "content_filter", "tool_calls", "other"]

_ROLES: frozenset[str] = frozenset(("system", "user", "assistant"))
_FINISH_REASONS: frozenset[str] = frozenset(
    ("stop", "length", "content_filter", "tool_calls", "other")
)


class ChatMessage(msgspec.Struct, frozen=True):
    """One message of a conversation: a role and its text."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"ChatMessage role must be one of {sorted(_ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"ChatMessage content must be a str, got {type(self.content).__name__}")

    @classmethod
    def system(cls, text: str) -> ChatMessage:
        """Returns a system message (instructions for the model)."""
        return cls("system", text)

    @classmethod
    def user(cls, text: str) -> ChatMessage:
        """Returns a user message."""
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str) -> ChatMessage:
        """Returns an assistant message (an earlier answer of the model)."""
        return cls("assistant", text)


class CompletionRequest(msgspec.Struct, frozen=True):
    """What a caller asks for. `None` options are taken from the provider's ModelConfig.

    A request is immutable (frozen; messages and stop become tuples) but not necessarily
    hashable: a `json_schema` is a dict.

    Args:
        messages: the conversation, at least one message; a list is stored as a tuple.
        temperature: sampling temperature, 0 to 2; None leaves it to the config or vendor.
        max_tokens: upper bound on generated tokens; None takes the config's.
        json_mode: ask the vendor for a JSON object as output.
        json_schema: a JSON Schema the output must follow (implies JSON output).
        stop: sequences that end generation.
    """

    messages: Sequence[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    stop: Sequence[str] = ()

    def __post_init__(self) -> None:
        if isinstance(self.messages, list):
            msgspec.structs.force_setattr(self, "messages", tuple(self.messages))
        # Stored as tuples so a request cannot change after it is built. It is not
        # necessarily hashable: a `json_schema` is a dict.
        if not isinstance(self.messages, tuple):
            raise TypeError(
                "CompletionRequest messages must be a list or tuple of ChatMessage, "
                f"got {type(self.messages).__name__}"
            )
        if not self.messages:
            raise ValueError("CompletionRequest needs at least one message")
        for index, message in enumerate(self.messages):
            if not isinstance(message, ChatMessage):
                raise TypeError(
                    f"CompletionRequest messages[{index}] must be a ChatMessage, "
                    f"got {type(message).__name__}"
                )
        if self.temperature is not None and (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or not math.isfinite(self.temperature)
            or not 0 <= self.temperature <= 2
        ):
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature!r}")
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or self.max_tokens < 1
        ):
            raise ValueError(f"max_tokens must be a positive int, got {self.max_tokens!r}")
        if isinstance(self.stop, str) or not isinstance(self.stop, list | tuple):
            raise TypeError("stop must be a list or tuple of strings")
        if isinstance(self.stop, list):
            msgspec.structs.force_setattr(self, "stop", tuple(self.stop))
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop sequences must be non-empty strings")

    @property
    def wants_json(self) -> bool:
        """True when the output must be JSON (json_mode or a schema)."""
        return self.json_mode or self.json_schema is not None


class CompletionResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A finished answer, normalised across vendors.

    `input_tokens` counts every input token, cached ones included; `output_tokens` every
    generated token, reasoning included. `attempts` is set by Retry; `parsed` by JsonValidation.
    """

    content: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    finish_reason: FinishReason
    provider: str
    response_id: str | None = None
    request_id: str | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    attempts: int = 1
    parsed: Any = None

    def __post_init__(self) -> None:
        if self.finish_reason not in _FINISH_REASONS:
            raise ValueError(
                f"finish_reason must be one of {sorted(_FINISH_REASONS)}, "
                f"got {self.finish_reason!r}"
            )


class TextDelta(msgspec.Struct, frozen=True, tag=True):
    """A piece of streamed text, in order."""

    text: str


class StreamEnd(msgspec.Struct, frozen=True, tag=True):
    """The last stream event: the whole text, usage and finish reason."""

    response: CompletionResponse


StreamEvent: TypeAlias = TextDelta | StreamEnd
