"""Replay: a terminal handler that serves a recorded cassette back, streams included.

Where it belongs: at the bottom of a stack, in place of the vendor provider, under the same
layers the recording was made with. Record with a Recorder just above the real provider,
save once, then replay in every test run with no network and no credential.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import AsyncGenerator, Sequence
from typing import Literal

from ashford_llm.cassette import Cassette, RecordedCall, RecordedRequest
from ashford_llm.protocol import AsyncCloseable, ProviderInfo
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
)

__all__ = ["Replay", "ReplayMismatchError"]

_MATCHES = ("sequence", "request")
_CANDIDATES = 3
_SHORT = 160


class ReplayMismatchError(AssertionError):
    """Replay has no recorded call for this request: the cassette is used up or differs."""


class Replay(AsyncCloseable):
    """Serves recorded calls back in place of a vendor, with no network and no waiting.

    `match="sequence"` serves the calls in recorded order, whatever the request;
    `match="request"` serves the first unused call whose request equals the incoming one
    (messages and every option; an attachment matches a recorded one by its SHA-256, since
    cassettes keep no attachment bytes). Either raises ReplayMismatchError, showing the request and
    the closest unused recordings, when nothing is left to serve.

    A call is served whichever way it was recorded: `complete` of a recorded stream returns
    its StreamEnd response, and `stream` of a recorded complete yields its reasoning as one
    ReasoningDelta, its text as one TextDelta, then a StreamEnd. A recorded stream is
    served event by event, ReasoningDeltas included. Recorded errors are raised again as
    their own class (after the recorded events, for a stream). `parsed` is never served: put
    JsonValidation above.

    Args:
        path_or_calls: a cassette path, a Cassette, or a list or tuple of recorded calls (e.g.
            `Recorder.calls`).
        match: "sequence" or "request", as above.
        name: the provider name to report; by default the cassette's, else "replay".
    """

    def __init__(
        self,
        path_or_calls: str | os.PathLike[str] | Cassette | Sequence[RecordedCall],
        *,
        match: Literal["sequence", "request"] = "sequence",
        name: str | None = None,
    ) -> None:
        if match not in _MATCHES:
            raise ValueError(f"Replay match must be one of {_MATCHES}, got {match!r}")
        if isinstance(path_or_calls, str | os.PathLike):
            path_or_calls = Cassette.load(path_or_calls)
        if isinstance(path_or_calls, Cassette):
            calls, default_name = path_or_calls.calls, path_or_calls.provider
        elif isinstance(path_or_calls, list | tuple) and all(
            isinstance(c, RecordedCall) for c in path_or_calls
        ):
            calls, default_name = tuple(path_or_calls), "replay"
        else:
            raise TypeError(
                "Replay needs a cassette path, a Cassette or a sequence of RecordedCall, "
                f"got {type(path_or_calls).__name__}"
            )
        self.match = match
        self.calls: tuple[RecordedCall, ...] = tuple(call.without_parsed() for call in calls)
        self._name = default_name if name is None else name
        self._used = [False] * len(self.calls)
        self._position = 0
        self.closed = False

    @property
    def name(self) -> str:
        """The provider name reported by the stack."""
        return self._name

    @property
    def info(self) -> ProviderInfo:
        """The replayed provider's name, and the model of its first recorded answer."""
        for call in self.calls:
            ends = [event.response for event in call.events if isinstance(event, StreamEnd)]
            response = call.response or (ends[0] if ends else None)
            if response is not None:
                return ProviderInfo(name=self._name, model=response.model)
        return ProviderInfo(name=self._name)

    @property
    def remaining(self) -> int:
        """How many recorded calls have not been served yet."""
        return self._used.count(False)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the recorded response, or raises the recorded error."""
        call = self._take(request, "complete")
        for event in call.events:
            if isinstance(event, StreamEnd):
                return event.response
        if call.error is not None:
            raise call.error.rebuild()
        if call.response is None:
            raise ReplayMismatchError(
                f"recorded stream for {_short(request)} was stopped by its consumer before "
                "it ended, so it has no response to serve as a complete call"
            )
        return call.response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yields the recorded events (or the recorded response as one delta and an end)."""
        call = self._take(request, "stream")
        if call.kind == "stream":
            for event in call.events:
                yield event
        elif call.response is not None:
            if call.response.reasoning_text:
                yield ReasoningDelta(call.response.reasoning_text)
            if call.response.content:
                yield TextDelta(call.response.content)
            yield StreamEnd(call.response)
        if call.error is not None:
            raise call.error.rebuild()

    def _take(self, request: CompletionRequest, kind: str) -> RecordedCall:
        """Finds the call to serve and marks it used, or raises ReplayMismatchError."""
        if self.match == "sequence":
            index = self._position
            if index >= len(self.calls):
                raise ReplayMismatchError(
                    f"Replay has no call left for {kind} call {index + 1} "
                    f"(the cassette holds {len(self.calls)}): {_short(request)}"
                )
            self._position += 1
        else:
            recorded = RecordedRequest.of(request)
            found = next(
                (
                    i
                    for i, call in enumerate(self.calls)
                    if not self._used[i] and call.request == recorded
                ),
                None,
            )
            if found is None:
                raise ReplayMismatchError(self._unmatched(request, kind))
            index = found
        self._used[index] = True
        return self.calls[index]

    def _unmatched(self, request: CompletionRequest, kind: str) -> str:
        """Explains a miss: the request and the closest unused recorded requests."""
        lines = [f"Replay has no unused recorded call for this {kind} request:", _short(request)]
        unused = [(i, call) for i, call in enumerate(self.calls) if not self._used[i]]
        if not unused:
            lines.append(f"every one of the {len(self.calls)} recorded calls was served")
            return "\n".join(lines)
        wanted = _short(request)
        ranked = sorted(
            unused,
            key=lambda item: (
                -difflib.SequenceMatcher(None, wanted, _short(item[1].request)).ratio()
            ),
        )
        lines.append("closest unused recorded calls:")
        for index, call in ranked[:_CANDIDATES]:
            differ = ", ".join(_differing_fields(RecordedRequest.of(request), call.request))
            lines.append(f"  #{index + 1} (differs in {differ}): {_short(call.request)}")
        return "\n".join(lines)

    async def aclose(self) -> None:
        """Marks the replay closed; it holds no resources."""
        self.closed = True

    def __repr__(self) -> str:
        return f"Replay(name={self._name!r}, match={self.match!r}, calls={len(self.calls)})"


def _short(request: CompletionRequest | RecordedRequest) -> str:
    """Renders a request in one line: its messages (shortened) and the options set."""
    messages = " | ".join(
        f"{m.role}: {m.text if len(m.text) <= _SHORT else m.text[:_SHORT] + '...'}"
        for m in request.messages
    )
    options = [
        f"{field}={getattr(request, field)!r}"
        for field in ("temperature", "max_tokens", "json_mode", "stop")
        if getattr(request, field) not in (None, False, ())
    ]
    if request.json_schema is not None:
        options.append("json_schema=...")
    return f"[{messages}]" + (f" {', '.join(options)}" if options else "")


def _differing_fields(first: RecordedRequest, second: RecordedRequest) -> list[str]:
    """Names the request fields whose values differ."""
    return [
        field
        for field in first.__struct_fields__
        if getattr(first, field) != getattr(second, field)
    ]
