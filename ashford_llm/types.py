"""Value types shared by every provider and layer: messages, parts, requests, responses, events.

All are frozen msgspec Structs: derive a changed copy with `msgspec.structs.replace`. They
validate themselves on construction (and on decoding), so a bad role, a part of the wrong
type or an empty message list fails here, never at a vendor.

A message's content is a `str` (the common case and the fast path) or a tuple of parts:
`TextPart`, `ImagePart`, `DocumentPart`, `CachePoint` (a prompt-cache breakpoint after the
part before it) and `ReasoningPart` (a reasoning model's thinking, sent back unchanged in a
later turn). `message.text` joins the text parts, so code that only reads text stays one
attribute away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeAlias

import msgspec

__all__ = [
    "CachePoint",
    "CallCost",
    "ChatMessage",
    "CompletionRequest",
    "CompletionResponse",
    "DocumentPart",
    "FinishReason",
    "ImagePart",
    "Part",
    "ReasoningConfig",
    "ReasoningDelta",
    "ReasoningEffort",
    "ReasoningPart",
    "Role",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal["stop", "length", "content_filter", "tool_calls", "other"]
ReasoningEffort: TypeAlias = Literal["none", "minimal", "low", "medium", "high"]

_ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "tool"))
_FINISH_REASONS: frozenset[str] = frozenset(
    ("stop", "length", "content_filter", "tool_calls", "other")
)
_EFFORTS: frozenset[str] = frozenset(("none", "minimal", "low", "medium", "high"))
# Leading bytes of the media types vendors accept, for data given without a media type.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def _sniff(data: bytes) -> str | None:
    """Returns the media type that `data` starts like, if it is one vendors take."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _check_source(kind: str, data: bytes | None, url: str | None) -> None:
    """Checks that exactly one of `data` and `url` is given, each of the right type."""
    if (data is None) == (url is None):
        raise ValueError(f"{kind} needs exactly one of data or url")
    if data is not None and not isinstance(data, bytes):
        raise TypeError(f"{kind} data must be bytes, got {type(data).__name__}")
    if data is not None and not data:
        raise ValueError(f"{kind} data must not be empty")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise ValueError(f"{kind} url must be a non-empty string, got {url!r}")


def _read(path: str | Path) -> tuple[bytes, str | None]:
    """Reads a file and guesses its media type from its content, then its name."""
    import mimetypes  # only callers reading files pay for it

    file = Path(path)
    data = file.read_bytes()
    return data, _sniff(data) or mimetypes.guess_type(file.name)[0]


class TextPart(msgspec.Struct, frozen=True, tag="text"):
    """A piece of text in a message or an answer."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"TextPart text must be a str, got {type(self.text).__name__}")


class ImagePart(msgspec.Struct, frozen=True, tag="image"):
    """An image, as bytes or as a URL the vendor fetches; exactly one of the two.

    `media_type` (e.g. "image/png") is guessed from the bytes when not given; a URL's may
    stay None where the vendor reads it from the URL. The library never downloads a URL.
    """

    data: bytes | None = None
    url: str | None = None
    media_type: str | None = None

    def __post_init__(self) -> None:
        _check_source("ImagePart", self.data, self.url)
        if self.media_type is None and self.data is not None:
            msgspec.structs.force_setattr(self, "media_type", _sniff(self.data))
        if self.media_type is not None and not (
            isinstance(self.media_type, str) and self.media_type.startswith("image/")
        ):
            raise ValueError(f"ImagePart media_type must be image/*, got {self.media_type!r}")

    @classmethod
    def from_path(cls, path: str | Path, *, media_type: str | None = None) -> ImagePart:
        """Reads an image file; the media type is guessed from its content, then its name."""
        data, guessed = _read(path)
        return cls(data=data, media_type=media_type or guessed)

    def __repr__(self) -> str:
        source = f"url={self.url!r}" if self.data is None else f"data=<{len(self.data)} bytes>"
        return f"ImagePart({source}, media_type={self.media_type!r})"


class DocumentPart(msgspec.Struct, frozen=True, tag="document"):
    """A document (a PDF by default), as bytes or as a URL; exactly one of the two.

    `name` is the file name some vendors show the model (OpenAI's `filename`).
    """

    data: bytes | None = None
    url: str | None = None
    media_type: str = "application/pdf"
    name: str | None = None

    def __post_init__(self) -> None:
        _check_source("DocumentPart", self.data, self.url)
        if not isinstance(self.media_type, str) or "/" not in self.media_type:
            raise ValueError(
                f"DocumentPart media_type must be a media type, got {self.media_type!r}"
            )
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(f"DocumentPart name must be a non-empty string, got {self.name!r}")

    @classmethod
    def from_path(cls, path: str | Path, *, media_type: str | None = None) -> DocumentPart:
        """Reads a document file, named after it; the media type is guessed as for images."""
        data, guessed = _read(path)
        return cls(
            data=data, media_type=media_type or guessed or "application/pdf", name=Path(path).name
        )

    def __repr__(self) -> str:
        source = f"url={self.url!r}" if self.data is None else f"data=<{len(self.data)} bytes>"
        return f"DocumentPart({source}, media_type={self.media_type!r}, name={self.name!r})"


class CachePoint(msgspec.Struct, frozen=True, tag="cache_point"):
    """A prompt-cache breakpoint: the prompt up to the part before it may be cached.

    Anthropic caches only where a breakpoint says so; OpenAI and Gemini cache automatically
    and ignore it.
    """


class ReasoningPart(msgspec.Struct, frozen=True, tag="reasoning"):
    """A reasoning model's thinking, in an answer or in an assistant turn sent back.

    `signature` is the vendor's opaque proof (Anthropic's signature, or the data of a
    redacted block, Gemini's thought signature), kept so the turn can be sent back unchanged;
    `provider` names whose it is, since no other vendor accepts it. `redacted` marks a block
    whose text the vendor withheld.
    """

    text: str
    signature: str | None = None
    provider: str | None = None
    redacted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"ReasoningPart text must be a str, got {type(self.text).__name__}")


class ToolCall(msgspec.Struct, frozen=True, tag="tool_call"):
    """A call of a tool the model asks for, in an answer or in an assistant turn sent back.

    `id` is the vendor's call id (generated where the vendor sends none, so a result can name
    the call); `arguments` are decoded from the vendor's JSON. `signature` keeps a vendor's
    opaque per-call data (Gemini's thought signature) and `provider` whose it is, so the call
    can be sent back unchanged.
    """

    id: str
    name: str
    arguments: dict[str, Any] = {}
    signature: str | None = None
    provider: str | None = None

    def __post_init__(self) -> None:
        for field in ("id", "name"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ValueError(f"ToolCall {field} must be a non-empty string, got {value!r}")
        if not isinstance(self.arguments, dict):
            raise TypeError(
                f"ToolCall arguments must be a dict, got {type(self.arguments).__name__}"
            )


class ToolResult(msgspec.Struct, frozen=True, tag="tool_result"):
    """What running a tool call gave, sent back to the model in a `tool` message.

    `name` is the tool's name, which some vendors need (Gemini); None takes it from the
    matching call in the conversation. `is_error` says the call failed and `content` why.
    """

    tool_call_id: str
    content: str
    is_error: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tool_call_id, str) or not self.tool_call_id:
            raise ValueError(
                f"ToolResult tool_call_id must be non-empty, got {self.tool_call_id!r}"
            )
        if not isinstance(self.content, str):
            raise TypeError(f"ToolResult content must be a str, got {type(self.content).__name__}")


Part: TypeAlias = (
    TextPart | ImagePart | DocumentPart | CachePoint | ReasoningPart | ToolCall | ToolResult
)
"""One piece of a message's or an answer's content."""

_PART_TYPES = (TextPart, ImagePart, DocumentPart, CachePoint, ReasoningPart, ToolCall, ToolResult)
# Parts that belong in one role's messages only.
_PART_ROLES: dict[type, str] = {
    ReasoningPart: "assistant",
    ToolCall: "assistant",
    ToolResult: "tool",
}


def join_text(parts: Sequence[Part]) -> str:
    """Joins the text of the text parts, in order."""
    return "".join(part.text for part in parts if type(part) is TextPart)


class ChatMessage(msgspec.Struct, frozen=True):
    """One message of a conversation: a role and its content, text or parts."""

    role: Role
    content: str | tuple[Part, ...]

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"ChatMessage role must be one of {sorted(_ROLES)}, got {self.role!r}")
        content = self.content
        if type(content) is str:
            if self.role == "tool":
                raise ValueError("a tool message holds ToolResults: use ChatMessage.tool_result")
            return
        if isinstance(content, list):
            content = tuple(content)
            msgspec.structs.force_setattr(self, "content", content)
        if not isinstance(content, tuple):
            raise TypeError(
                "ChatMessage content must be a str or a list of parts, "
                f"got {type(content).__name__}"
            )
        for index, part in enumerate(content):
            if not isinstance(part, _PART_TYPES):
                raise TypeError(
                    f"ChatMessage content[{index}] must be a part (TextPart, ImagePart, "
                    f"DocumentPart, CachePoint, ReasoningPart), got {type(part).__name__}"
                )
            role = _PART_ROLES.get(type(part))
            if role is not None and self.role != role:
                raise ValueError(f"a {type(part).__name__} belongs in a {role} message only")
        if self.role == "tool" and not all(type(part) is ToolResult for part in content):
            raise ValueError("a tool message holds ToolResults only")

    @property
    def text(self) -> str:
        """The message's text: its content, or its text parts joined."""
        content = self.content
        return content if isinstance(content, str) else join_text(content)

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts (a text content is one TextPart)."""
        content = self.content
        return (TextPart(content),) if isinstance(content, str) else content

    @classmethod
    def system(cls, *content: str | Part) -> ChatMessage:
        """Returns a system message (instructions for the model)."""
        return cls("system", _content(content))

    @classmethod
    def user(cls, *content: str | Part) -> ChatMessage:
        """Returns a user message: text, or text and parts, e.g. `user("Classify", image)`."""
        return cls("user", _content(content))

    @classmethod
    def assistant(cls, *content: str | Part) -> ChatMessage:
        """Returns an assistant message (an earlier answer of the model, its tool calls too)."""
        return cls("assistant", _content(content))

    @classmethod
    def tool_result(
        cls, tool_call_id: str, content: str, *, is_error: bool = False, name: str | None = None
    ) -> ChatMessage:
        """Returns the message that answers one tool call with what running it gave."""
        return cls("tool", (ToolResult(tool_call_id, content, is_error=is_error, name=name),))


def _content(items: tuple[str | Part, ...]) -> str | tuple[Part, ...]:
    """Returns one string as itself, anything else as parts (strings become TextParts)."""
    if len(items) == 1 and type(items[0]) is str:
        return items[0]
    return tuple(TextPart(item) if isinstance(item, str) else item for item in items)


class Tool:
    """A function the model may call: its name, what it does, and its parameters.

    `parameters` is a JSON Schema (a dict), or a type msgspec can describe (a Struct, a
    dataclass, a TypedDict), turned into a schema once; `tool.parse(call)` then decodes a
    call's arguments into that type. `strict` asks vendors that support it to keep the
    arguments exactly to the schema.

    Args:
        name: the name the model calls it by (letters, digits, `_` and `-`, at most 64).
        description: what it does and when to use it, for the model.
        parameters: a JSON Schema dict of an object, or a type to describe as one.
        strict: ask for arguments that follow the schema exactly, where the vendor can.
    """

    __slots__ = ("_decoder", "description", "name", "schema", "strict", "type")

    def __init__(
        self, name: str, description: str = "", parameters: Any = None, *, strict: bool = False
    ) -> None:
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise ValueError(f"a tool name must be 1-64 letters, digits, '_' or '-', got {name!r}")
        if not isinstance(description, str):
            raise TypeError(f"a tool description must be a str, got {type(description).__name__}")
        if not isinstance(strict, bool):
            raise TypeError("strict must be a bool")
        self.name = name
        self.description = description
        self.strict = strict
        self.type: Any = None
        self._decoder: msgspec.json.Decoder[Any] | None = None
        if parameters is None:
            self.schema: dict[str, Any] = {"type": "object", "properties": {}}
        elif isinstance(parameters, dict):
            self.schema = parameters
        else:
            try:
                self.schema = schema_of(parameters)
                self._decoder = msgspec.json.Decoder(parameters)
            except (TypeError, ValueError) as error:
                raise TypeError(f"tool {name!r} cannot describe {parameters!r}: {error}") from None
            self.type = parameters
        if self.schema.get("type", "object") != "object":
            raise ValueError(f"tool {name!r} parameters must describe an object")

    def parse(self, call: ToolCall) -> Any:
        """Decodes a call's arguments into the tool's type (the dict itself for a schema).

        Raises msgspec.ValidationError naming what does not fit.
        """
        if self._decoder is None:
            return call.arguments
        return self._decoder.decode(msgspec.json.encode(call.arguments))

    def _key(self) -> tuple[str, str, bytes, bool]:
        return (self.name, self.description, msgspec.json.encode(self.schema), self.strict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tool) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        kind = self.type.__qualname__ if isinstance(self.type, type) else "schema"
        return f"Tool({self.name!r}, parameters={kind})"


_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_CHOICES = frozenset(("auto", "none", "required"))


def schema_of(kind: Any) -> dict[str, Any]:
    """Returns the JSON Schema msgspec gives a type, its top-level `$ref` inlined.

    Vendors then see an object schema with its title; `$defs` stay only when something
    refers to them. Raises TypeError for a type msgspec cannot describe.
    """
    schema = msgspec.json.schema(kind)
    ref = schema.get("$ref")
    defs = schema.get("$defs", {})
    prefix = "#/$defs/"
    if not isinstance(ref, str) or not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        return schema
    root = dict(defs[ref[len(prefix) :]])
    if len(defs) > 1 or prefix.encode() in msgspec.json.encode(root):
        root["$defs"] = defs
    return root


class ReasoningConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How much a reasoning model may think, and whether its thinking text comes back.

    Args:
        effort: "none" turns reasoning off where the model allows it; "minimal" to "high"
            ask for more; None leaves it to the vendor. docs/content.md maps it per vendor.
        budget_tokens: a token budget for thinking, where the vendor takes one (Anthropic's
            manual thinking, Gemini's thinkingBudget); wins over `effort` there.
        include_text: ask for the thinking text (Anthropic thinking, Gemini thought
            summaries); it comes back as ReasoningParts and `reasoning_text`.
    """

    effort: ReasoningEffort | None = None
    budget_tokens: int | None = None
    include_text: bool = False

    def __post_init__(self) -> None:
        if self.effort is not None and self.effort not in _EFFORTS:
            raise ValueError(
                f"reasoning effort must be one of {sorted(_EFFORTS)}, got {self.effort!r}"
            )
        if self.budget_tokens is not None and (
            isinstance(self.budget_tokens, bool)
            or not isinstance(self.budget_tokens, int)
            or self.budget_tokens < 0
        ):
            raise ValueError(f"budget_tokens must be an int >= 0, got {self.budget_tokens!r}")
        if not isinstance(self.include_text, bool):
            raise TypeError("include_text must be a bool")


class CompletionRequest(msgspec.Struct, frozen=True):
    """What a caller asks for. `None` options are taken from the provider's ModelConfig.

    A request is immutable (frozen; messages and stop become tuples) but not necessarily
    hashable: a `json_schema` or `vendor_options` is a dict.

    Args:
        messages: the conversation, at least one message; a list is stored as a tuple.
        temperature: sampling temperature, 0 to 2; None leaves it to the config or vendor.
        max_tokens: upper bound on generated tokens (thinking included); None takes the
            config's.
        json_mode: ask the vendor for a JSON object as output.
        json_schema: a JSON Schema the output must follow (implies JSON output).
        stop: sequences that end generation.
        top_p: nucleus sampling, 0 to 1; None sends none.
        seed: a sampling seed, where the vendor takes one; None sends none.
        reasoning: reasoning effort, budget and whether to return the thinking text.
        vendor_options: fields deep-merged into the vendor's request body last: the escape
            hatch for a vendor option the library does not model (None: none).
        tools: the functions the model may call.
        tool_choice: "auto" (the model decides), "none" (no calls), "required" (at least
            one call), or a tool's name (that tool).
        parallel_tool_calls: whether the model may ask for several calls at once; None
            leaves it to the vendor.
    """

    messages: Sequence[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    stop: Sequence[str] = ()
    top_p: float | None = None
    seed: int | None = None
    reasoning: ReasoningConfig | None = None
    vendor_options: dict[str, Any] | None = None
    tools: Sequence[Tool] = ()
    tool_choice: str = "auto"
    parallel_tool_calls: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.messages, list):
            msgspec.structs.force_setattr(self, "messages", tuple(self.messages))
        # Stored as tuples so a request cannot change after it is built.
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
        if self.temperature is not None and not _number_within(self.temperature, 0, 2):
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature!r}")
        if self.top_p is not None and not _number_within(self.top_p, 0, 1):
            raise ValueError(f"top_p must be between 0 and 1, got {self.top_p!r}")
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or self.max_tokens < 1
        ):
            raise ValueError(f"max_tokens must be a positive int, got {self.max_tokens!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if isinstance(self.stop, str) or not isinstance(self.stop, list | tuple):
            raise TypeError("stop must be a list or tuple of strings")
        if isinstance(self.stop, list):
            msgspec.structs.force_setattr(self, "stop", tuple(self.stop))
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop sequences must be non-empty strings")
        if self.reasoning is not None and not isinstance(self.reasoning, ReasoningConfig):
            raise TypeError(
                f"reasoning must be a ReasoningConfig, got {type(self.reasoning).__name__}"
            )
        self._check_tools()
        options = self.vendor_options
        if options is not None and not isinstance(options, dict):
            if not isinstance(options, Mapping):
                raise TypeError(f"vendor_options must be a mapping, got {type(options).__name__}")
            msgspec.structs.force_setattr(self, "vendor_options", dict(options))

    def _check_tools(self) -> None:
        """Stores tools as a tuple and checks them and the tool choice."""
        tools = self.tools
        if isinstance(tools, list):
            tools = tuple(tools)
            msgspec.structs.force_setattr(self, "tools", tools)
        if not isinstance(tools, tuple) or not all(isinstance(t, Tool) for t in tools):
            raise TypeError("tools must be a list or tuple of Tool")
        names = [tool.name for tool in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names must be unique, got {names}")
        choice = self.tool_choice
        if not isinstance(choice, str) or (choice not in _TOOL_CHOICES and choice not in names):
            raise ValueError(
                "tool_choice must be 'auto', 'none', 'required' or one of the tools' names, "
                f"got {choice!r}"
            )
        if choice == "required" and not tools:
            raise ValueError("tool_choice 'required' needs tools")
        if self.parallel_tool_calls is not None and not isinstance(self.parallel_tool_calls, bool):
            raise TypeError("parallel_tool_calls must be a bool or None")

    @property
    def wants_json(self) -> bool:
        """True when the output must be JSON (json_mode or a schema)."""
        return self.json_mode or self.json_schema is not None


def _number_within(value: Any, low: float, high: float) -> bool:
    """True for a finite int or float (not a bool) within [low, high]."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and low <= value <= high
    )


class CallCost(msgspec.Struct, frozen=True, kw_only=True):
    """What one call cost, priced from a price table (the Cost layer sets it).

    Amounts are Decimals in `currency`. `total` is None when the price is unknown (a model
    or provider the table lacks, or a batch price it does not list): `unknown_reason` then
    says why, and an unknown cost is never reported as 0. `input` covers every input token
    (cache reads and writes at their own prices), `output` every output token (reasoning
    included). `batch` says the batch price was applied.
    """

    total: Decimal | None
    input: Decimal | None = None
    output: Decimal | None = None
    currency: str = "USD"
    batch: bool = False
    unknown_reason: str | None = None

    @property
    def known(self) -> bool:
        """True when the call was priced."""
        return self.total is not None


class CompletionResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A finished answer, normalised across vendors.

    `parts` is the answer in order (text, reasoning and tool-call parts; `tool_calls` lists
    the calls alone: an answer holding calls finishes with "tool_calls"); `content` its text
    joined and
    `reasoning_text` its reasoning joined (None when there is none). Give either `content` or
    `parts`: the other is derived. `input_tokens` counts every input token, cache reads and
    writes included (`cached_input_tokens` and `cache_write_tokens` say how many of them);
    `output_tokens` every generated token, reasoning included. `attempts` is set by Retry;
    `parsed` by JsonValidation; `cached` by Cache (True: served from the cache, no vendor
    call); `cost` by the Cost layer. `batch` is True for an answer collected from a vendor's
    batch API (`ashford_llm.batch`), which the vendors bill at half the standard price.
    """

    content: str = ""
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
    parts: tuple[Part, ...] = ()
    reasoning_text: str | None = None
    cache_write_tokens: int | None = None
    batch: bool = False
    cached: bool = False
    cost: CallCost | None = None

    def __post_init__(self) -> None:
        if self.finish_reason not in _FINISH_REASONS:
            raise ValueError(
                f"finish_reason must be one of {sorted(_FINISH_REASONS)}, "
                f"got {self.finish_reason!r}"
            )
        parts = self.parts
        if not parts:
            if self.content:
                msgspec.structs.force_setattr(self, "parts", (TextPart(self.content),))
            return
        if isinstance(parts, list):
            parts = tuple(parts)
            msgspec.structs.force_setattr(self, "parts", parts)
        if not self.content:
            msgspec.structs.force_setattr(self, "content", join_text(parts))
        if self.reasoning_text is None and (len(parts) > 1 or type(parts[0]) is ReasoningPart):
            # Only real thinking text: a signature-only or redacted part carries none.
            thinking = "".join(part.text for part in parts if type(part) is ReasoningPart)
            if thinking:
                msgspec.structs.force_setattr(self, "reasoning_text", thinking)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls the answer holds, in answer order."""
        return tuple(part for part in self.parts if type(part) is ToolCall)


class ToolCallDelta(msgspec.Struct, frozen=True, tag=True):
    """A piece of a streamed tool call: `index` names the call; `id` and `name` come once."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments_delta: str = ""


class TextDelta(msgspec.Struct, frozen=True, tag=True):
    """A piece of streamed answer text, in order."""

    text: str


class ReasoningDelta(msgspec.Struct, frozen=True, tag=True):
    """A piece of streamed reasoning text; arrives before or between TextDeltas."""

    text: str


class StreamEnd(msgspec.Struct, frozen=True, tag=True):
    """The last stream event: the whole answer, usage and finish reason."""

    response: CompletionResponse


StreamEvent: TypeAlias = TextDelta | ReasoningDelta | ToolCallDelta | StreamEnd
