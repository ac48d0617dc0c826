"""What the fake server says: the normalised request view, built-in answer functions, tokens."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TypeAlias

import msgspec

from ashford_llm.testing.fake_server.tools import (
    PlannedCall,
    ToolSpec,
    call_tokens,
    plan_calls,
    tool_tokens,
)

__all__ = [
    "Answer",
    "AnswerFunction",
    "AnswerRequest",
    "PromptCache",
    "canned",
    "count_tokens",
    "echo",
    "make_answer",
    "split_words",
]

_WORD = re.compile(r"\s*\S+\s*")


class AnswerRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A vendor-neutral view of one request, handed to the answer function.

    `messages` holds each message's role and text; `attachments` the media types of the
    images and documents sent, in order; `reasoning` whether the request asked for the
    thinking text; `cache_prefix` the prompt text the vendor would cache (Anthropic: up to
    its last cache breakpoint; OpenAI and Gemini: everything before the last message).
    A tool result is a message of role "tool" holding its content. `tools` are the tools
    offered; `tool_choice` is "auto", "none", "required" or a tool's name; `allowed_tools`
    narrows the tools a call may use (empty: all); `parallel_tool_calls` is False when the
    request switched parallel calls off.
    """

    vendor: str
    model: str
    messages: tuple[tuple[str, str], ...]
    json: bool = False
    max_tokens: int | None = None
    stream: bool = False
    attachments: tuple[str, ...] = ()
    reasoning: bool = False
    cache_prefix: str = ""
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    allowed_tools: tuple[str, ...] = ()
    parallel_tool_calls: bool | None = None

    @property
    def tool_results(self) -> tuple[str, ...]:
        """Returns the contents of the tool results that end the conversation, in order."""
        results: list[str] = []
        for role, text in reversed(self.messages):
            if role != "tool":
                break
            results.append(text)
        return tuple(reversed(results))

    @property
    def last_user_text(self) -> str:
        """Returns the text of the last user message ("" when there is none)."""
        for role, text in reversed(self.messages):
            if role == "user":
                return text
        return ""


AnswerFunction: TypeAlias = Callable[[AnswerRequest], str]


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What the server will send for one request: text already cut to max tokens, and usage.

    `input_tokens` counts every input token, cache reads and writes included;
    `output_tokens` every generated one, the `reasoning_tokens` of `reasoning` included.
    `calls` are the tool calls the fake model makes (finish "tool_calls"; then no text).
    """

    text: str
    chunks: tuple[str, ...]
    finish: str  # "stop", "length" or "tool_calls"
    input_tokens: int
    output_tokens: int
    reasoning: str = ""
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    calls: tuple[PlannedCall, ...] = ()


ATTACHMENT_TOKENS = 100
"""What the fake server counts for each image or document (real vendors count by size)."""


class PromptCache:
    """The prompt prefixes a server has seen: a repeated one is a cache read, a new one a write."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def use(self, prefix: str) -> tuple[int, int]:
        """Returns (read tokens, written tokens) for a request whose cacheable prefix is this."""
        if not prefix:
            return 0, 0
        tokens = count_tokens(prefix)
        with self._lock:
            if prefix in self._seen:
                return tokens, 0
            self._seen.add(prefix)
        return 0, tokens


def split_words(text: str) -> list[str]:
    """Splits text into one piece per word (whitespace kept) whose concatenation is the text."""
    pieces = _WORD.findall(text)
    return pieces if pieces or not text else [text]


def count_tokens(text: str) -> int:
    """Counts tokens the fake way: one per whitespace-separated word, so tests can predict it."""
    return len(text.split())


def make_answer(
    request: AnswerRequest,
    answer: AnswerFunction,
    cache: PromptCache | None = None,
    *,
    response_id: str = "",
) -> Answer:
    """Runs the answer function and applies max tokens (finish "length" when it cut).

    A request that asked for reasoning text gets a short thought; `cache` (the server's)
    turns a repeated `cache_prefix` into cache-read tokens. When the tool rule (`tools.py`)
    makes calls, the answer is those calls (ids derived from `response_id`), never cut.
    """
    calls = plan_calls(request, response_id)
    text = "" if calls else answer(request)
    if not isinstance(text, str):
        raise TypeError(f"answer function must return str, got {type(text).__name__}")
    pieces = split_words(text)
    finish = "tool_calls" if calls else "stop"
    if request.max_tokens is not None and count_tokens(text) > request.max_tokens:
        pieces = pieces[: request.max_tokens]
        text = "".join(pieces)
        finish = "length"
    reasoning = (
        f"The request asks about: {request.last_user_text[:60]}" if request.reasoning else ""
    )
    reasoning_tokens = count_tokens(reasoning)
    cached, written = cache.use(request.cache_prefix) if cache is not None else (0, 0)
    return Answer(
        text=text,
        chunks=tuple(pieces),
        finish=finish,
        input_tokens=sum(count_tokens(content) for _, content in request.messages)
        + ATTACHMENT_TOKENS * len(request.attachments)
        + tool_tokens(request.tools),
        output_tokens=count_tokens(text) + call_tokens(calls) + reasoning_tokens,
        reasoning=reasoning,
        reasoning_tokens=reasoning_tokens,
        cached_tokens=cached,
        cache_write_tokens=written,
        calls=calls,
    )


def echo(request: AnswerRequest) -> str:
    """Answers with the last user message (the default); after tool results, with them.

    Each tool result that ends the conversation becomes "The tool said: <content>".
    """
    results = request.tool_results
    if results:
        return " ".join(f"The tool said: {content}" for content in results)
    return request.last_user_text


def canned(text: str) -> AnswerFunction:
    """Returns an answer function that always says `text`."""

    def answer(request: AnswerRequest) -> str:
        return text

    return answer
