"""The cassette format: recorded calls as JSON, written by Recorder and served by Replay.

A cassette is a versioned `Cassette` Struct holding `RecordedCall`s. Our own Structs forbid
unknown fields, so a cassette from a newer format fails loudly instead of replaying wrongly.
Errors are stored as their class name and attributes and rebuilt as the same ashford_llm
error class; messages pass through `redact`, so no credential reaches the file.
`CompletionResponse.parsed` is not stored: it is derived data whose Python type JSON cannot
keep; put JsonValidation above Replay to decode it again.

Format version 2 stores requests and answers with their parts, and streams with their
ReasoningDeltas. Attachment bytes are never written: an image or document given as bytes
(or as a `data:` URL) is kept as a `MediaRef` (kind, media type, size, SHA-256, name), so a
cassette of e-mails with attachments holds no attachment; Replay matches an incoming
request against a recorded one by the SHA-256 of its attachments. Requests are therefore
kept as `RecordedRequest`s: a CompletionRequest's fields, with `MediaRef`s where the bytes
were. Version 1 (text only, written before parts existed) still loads: its fields are a
subset of version 2's, so it reads as version 2 with the new fields at their defaults.

It is a data format, like `config`, not a test double: the Recorder layer writes it in
production code, so it lives outside `ashford_llm.testing`: this module is its one home.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

import msgspec

from ashford_llm.errors import (
    ContentFilterError,
    JsonValidationError,
    LLMError,
    MidStreamError,
    redact,
)
from ashford_llm.types import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningConfig,
    ReasoningPart,
    Role,
    StreamEnd,
    StreamEvent,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)

__all__ = [
    "CASSETTE_VERSION",
    "Cassette",
    "MediaRef",
    "RecordedCall",
    "RecordedError",
    "RecordedMessage",
    "RecordedRequest",
    "RecordedTool",
]

CASSETTE_VERSION = 2
"""The cassette format version this library writes (it also reads version 1)."""

_READABLE_VERSIONS = (1, CASSETTE_VERSION)


class MediaRef(
    msgspec.Struct, frozen=True, kw_only=True, tag="media_ref", forbid_unknown_fields=True
):
    """An attachment as a cassette keeps it: what it was and its fingerprint, not its bytes."""

    kind: Literal["image", "document"]
    media_type: str | None
    size: int
    sha256: str
    name: str | None = None

    @classmethod
    def of(cls, part: ImagePart | DocumentPart, data: bytes) -> MediaRef:
        """Fingerprints a part's bytes."""
        return cls(
            kind="image" if isinstance(part, ImagePart) else "document",
            media_type=part.media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            name=part.name if isinstance(part, DocumentPart) else None,
        )


RecordedPart: TypeAlias = (
    TextPart
    | ImagePart
    | DocumentPart
    | CachePoint
    | ReasoningPart
    | ToolCall
    | ToolResult
    | MediaRef
)
"""A message part as recorded: a Part, or a MediaRef where the part's bytes were."""


class RecordedMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A ChatMessage as recorded: its attachments given as bytes are MediaRefs."""

    role: Role
    content: str | tuple[RecordedPart, ...]

    @property
    def text(self) -> str:
        """The message's text, as `ChatMessage.text`."""
        content = self.content
        if isinstance(content, str):
            return content
        return "".join(part.text for part in content if type(part) is TextPart)

    @classmethod
    def of(cls, message: ChatMessage) -> RecordedMessage:
        """Records a message, replacing attachment bytes by their fingerprints."""
        content = message.content
        if isinstance(content, str):
            return cls(message.role, content)
        return cls(message.role, tuple(_record_part(part) for part in content))


class RecordedTool(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A Tool as recorded: its name, description, JSON Schema and strictness."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = {}
    strict: bool = False

    @classmethod
    def of(cls, tool: Tool) -> RecordedTool:
        """Records a tool by its schema (a Python type is kept as the schema it describes)."""
        return cls(
            name=tool.name, description=tool.description, parameters=tool.schema, strict=tool.strict
        )


class RecordedRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A CompletionRequest as recorded: the same fields, messages as RecordedMessages."""

    messages: tuple[RecordedMessage, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    top_p: float | None = None
    seed: int | None = None
    reasoning: ReasoningConfig | None = None
    vendor_options: dict[str, Any] | None = None
    tools: tuple[RecordedTool, ...] = ()
    tool_choice: str = "auto"
    parallel_tool_calls: bool | None = None

    @classmethod
    def of(cls, request: CompletionRequest) -> RecordedRequest:
        """Records a request; equal requests (same attachment bytes) record equal."""
        fields = msgspec.structs.asdict(request)
        fields["messages"] = tuple(RecordedMessage.of(m) for m in request.messages)
        fields["stop"] = tuple(request.stop)
        fields["tools"] = tuple(RecordedTool.of(tool) for tool in request.tools)
        return cls(**fields)


def _record_part(part: Part) -> RecordedPart:
    """Returns a part as recorded: attachment bytes (or a `data:` URL) become a MediaRef."""
    if isinstance(part, ImagePart | DocumentPart):
        if part.data is not None:
            return MediaRef.of(part, part.data)
        if part.url is not None and part.url.startswith("data:"):
            return MediaRef.of(part, _data_url_bytes(part.url))
    return part


def _data_url_bytes(url: str) -> bytes:
    """Returns a `data:` URL's payload, base64-decoded where it says so."""
    header, _, payload = url.partition(",")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload)
        except binascii.Error:
            pass
    return payload.encode()


class RecordedError(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An exception a call raised, as data: its class and the attributes to rebuild it."""

    error_class: str
    module: str
    message: str
    provider: str | None = None
    status: int | None = None
    request_id: str | None = None
    retry_after: float | None = None
    error_type: str | None = None
    error_code: str | None = None
    attempts: int | None = None
    body_excerpt: str | None = None
    should_retry: bool | None = None
    output: str | None = None
    partial_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    filter_results: dict[str, Any] | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> RecordedError:
        """Captures an exception; every text passes through `redact`."""
        if not isinstance(error, LLMError):
            return cls(
                error_class=type(error).__qualname__,
                module=type(error).__module__,
                message=redact(str(error)),
            )
        # The nearest public ashford_llm class, so private subclasses still rebuild.
        error_type = next(
            kind
            for kind in type(error).__mro__
            if kind.__module__.startswith("ashford_llm") and not kind.__name__.startswith("_")
        )
        # Only the fields the format has: a subclass may add others to its context.
        fields: dict[str, Any] = {
            name: redact(value) if name in _TEXTS and value is not None else value
            for name, value in error.context().items()
            if name in cls.__struct_fields__
        }
        return cls(error_class=error_type.__qualname__, module=error_type.__module__, **fields)

    def rebuild(self) -> Exception:
        """Returns a fresh exception of the recorded class with the recorded attributes.

        ashford_llm errors and built-in exceptions come back as themselves; any other class
        comes back as a RuntimeError naming it, since a cassette may not import code.
        """
        kind = self._error_type()
        if kind is None:
            return RuntimeError(f"{self.module}.{self.error_class}: {self.message}")
        if not issubclass(kind, LLMError):
            return kind(self.message)
        extra: dict[str, object] = {}
        if issubclass(kind, JsonValidationError):
            extra["output"] = self.output or ""
        if issubclass(kind, MidStreamError):
            extra["partial_text"] = self.partial_text or ""
        if issubclass(kind, ContentFilterError):
            extra["filter_results"] = self.filter_results
        return kind(
            self.message,
            provider=self.provider,
            status=self.status,
            request_id=self.request_id,
            retry_after=self.retry_after,
            error_type=self.error_type,
            error_code=self.error_code,
            attempts=self.attempts,
            body_excerpt=self.body_excerpt,
            should_retry=self.should_retry,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            **extra,
        )

    def _error_type(self) -> type[Exception] | None:
        """Finds the recorded class among ashford_llm's modules and the built-ins only."""
        if self.module == "builtins":
            found = getattr(builtins, self.error_class, None)
        elif self.module == "ashford_llm" or self.module.startswith("ashford_llm."):
            # Only modules already loaded: reading a cassette must not run any module's code.
            module = sys.modules.get(self.module)
            found = getattr(module, self.error_class, None) if module is not None else None
        else:
            return None
        if isinstance(found, type) and issubclass(found, Exception):
            return found
        return None


class RecordedCall(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One call as it passed a Recorder: the request and what came back, with timing.

    The request is kept as a RecordedRequest (`RecordedRequest.of(request)`), whose
    attachments are fingerprints, never bytes.

    A `complete` call has a `response` or an `error`; a `stream` call has the `events` that
    were yielded and, when it failed, the `error` raised after them. A stream without a
    StreamEnd and without an error was abandoned by its consumer. `started_at` is Unix
    time in seconds; `attempts` is what Retry reported (1 when there is no Retry below).
    """

    request: RecordedRequest
    kind: Literal["complete", "stream"]
    response: CompletionResponse | None = None
    events: tuple[StreamEvent, ...] = ()
    error: RecordedError | None = None
    attempts: int = 1
    started_at: float
    duration_ms: float

    def without_parsed(self) -> Self:
        """Returns this call with `parsed` cleared from its responses (see the module doc)."""
        response = self.response
        if response is not None and response.parsed is not None:
            response = msgspec.structs.replace(response, parsed=None)
        events = tuple(
            StreamEnd(msgspec.structs.replace(event.response, parsed=None))
            if isinstance(event, StreamEnd) and event.response.parsed is not None
            else event
            for event in self.events
        )
        return msgspec.structs.replace(self, response=response, events=events)


class Cassette(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A saved recording: the provider's name and its calls, in the order they started."""

    version: int = CASSETTE_VERSION
    provider: str
    calls: tuple[RecordedCall, ...] = ()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the cassette as indented JSON (stable, reviewable diffs)."""
        cleaned = msgspec.structs.replace(
            self, calls=tuple(call.without_parsed() for call in self.calls)
        )
        Path(path).write_bytes(msgspec.json.format(_ENCODER.encode(cleaned), indent=2) + b"\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Reads a cassette (version 1 or 2, returned as version 2), failing clearly on a bad
        file or an unknown format version."""
        data = Path(path).read_bytes()
        try:
            version = _VERSION_DECODER.decode(data).version
        except (msgspec.DecodeError, RecursionError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a cassette: {error}") from None
        if version not in _READABLE_VERSIONS:
            raise ValueError(
                f"{os.fspath(path)!r} is cassette version {version}; "
                f"this library reads versions {', '.join(map(str, _READABLE_VERSIONS))}"
            )
        try:
            cassette = _DECODER.decode(data)
        except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a valid cassette: {error}") from None
        if cassette.version != CASSETTE_VERSION:
            cassette = msgspec.structs.replace(cassette, version=CASSETTE_VERSION)
        return cassette


class _Version(msgspec.Struct):
    """The version field alone, read before the rest of the cassette."""

    version: int


_TEXTS = frozenset(("message", "body_excerpt", "output", "partial_text"))
"""The recorded fields holding free text, which pass through `redact`."""


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Cassette)
_VERSION_DECODER = msgspec.json.Decoder(_Version)
