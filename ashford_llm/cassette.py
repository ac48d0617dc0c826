"""The cassette format: recorded calls as JSON, written by Recorder and served by Replay.

A cassette is a versioned `Cassette` Struct holding `RecordedCall`s. Our own Structs forbid
unknown fields, so a cassette from a newer format fails loudly instead of replaying wrongly.
Errors are stored as their class name and attributes and rebuilt as the same ashford_llm
error class; messages pass through `redact`, so no credential reaches the file.
`CompletionResponse.parsed` is not stored: it is derived data whose Python type JSON cannot
keep; put JsonValidation above Replay to decode it again.

It is a data format, like `config`, not a test double: the Recorder layer writes it in
production code, so it lives outside `ashford_llm.testing` (which re-exports `Cassette`).
"""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path
from typing import Any, Literal, Self

import msgspec

from ashford_llm.errors import JsonValidationError, LLMError, MidStreamError, redact
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["CASSETTE_VERSION", "Cassette", "RecordedCall", "RecordedError"]

CASSETTE_VERSION = 1
"""The cassette format version this library writes and reads."""


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

    A `complete` call has a `response` or an `error`; a `stream` call has the `events` that
    were yielded and, when it failed, the `error` raised after them. A stream without a
    StreamEnd and without an error was abandoned by its consumer. `started_at` is Unix
    time in seconds; `attempts` is what Retry reported (1 when there is no Retry below).
    """

    request: CompletionRequest
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
        """Reads a cassette, failing clearly on a bad file or an unknown format version."""
        data = Path(path).read_bytes()
        try:
            version = _VERSION_DECODER.decode(data).version
        except (msgspec.DecodeError, RecursionError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a cassette: {error}") from None
        if version != CASSETTE_VERSION:
            raise ValueError(
                f"{os.fspath(path)!r} is cassette version {version}; "
                f"this library reads version {CASSETTE_VERSION}"
            )
        try:
            return _DECODER.decode(data)
        except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a valid cassette: {error}") from None


class _Version(msgspec.Struct):
    """The version field alone, read before the rest of the cassette."""

    version: int


_TEXTS = frozenset(("message", "body_excerpt", "output", "partial_text"))
"""The recorded fields holding free text, which pass through `redact`."""


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Cassette)
_VERSION_DECODER = msgspec.json.Decoder(_Version)
