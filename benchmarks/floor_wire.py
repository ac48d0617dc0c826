"""The floor clients' msgspec views of the vendor answers: only the fields they read."""

from __future__ import annotations

import msgspec


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class OpenAICompletion(msgspec.Struct):
    """A Chat Completions answer."""

    choices: list[_Choice]
    usage: _Usage | None = None


class _Delta(msgspec.Struct):
    content: str | None = None


class _ChunkChoice(msgspec.Struct):
    delta: _Delta | None = None


class OpenAIChunk(msgspec.Struct):
    """One Chat Completions stream chunk."""

    choices: list[_ChunkChoice] = []


class _Block(msgspec.Struct):
    type: str
    text: str | None = None


class AnthropicMessage(msgspec.Struct):
    """A Messages answer."""

    content: list[_Block]
    stop_reason: str | None = None


class _TextDelta(msgspec.Struct):
    text: str | None = None


class AnthropicEvent(msgspec.Struct):
    """One Messages stream event."""

    type: str
    delta: _TextDelta | None = None
