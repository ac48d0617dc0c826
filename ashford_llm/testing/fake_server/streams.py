"""Shaping a stream's frames by its fault: stall, cut before the end, error or bad JSON inside."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import StreamPlan

__all__ = ["BROKEN_STREAM", "shape_stream"]

BROKEN_STREAM = frozenset({Fault.cut_stream, Fault.mid_stream_error, Fault.malformed_json})
"""Faults after which a stream never delivers its terminal event."""


def _truncated(frame: bytes) -> bytes:
    """Cuts an SSE frame's JSON in the middle, keeping the `event:`/`data:` prefix.

    A binary frame (Bedrock's event stream) is cut in half: its prelude promises more bytes.
    """
    start = frame.find(b"data: ") + len(b"data: ")
    if start < len(b"data: "):
        return frame[: len(frame) // 2]
    return frame[: start + (len(frame) - start) // 2] + b"\n\n"


async def shape_stream(
    plan: StreamPlan,
    pieces: Sequence[str],
    fault: Fault | None,
    *,
    error_frame: bytes,
    stall_seconds: float,
    chunk_delay: float,
    sent: list[str],
) -> AsyncIterator[bytes]:
    """Yields the plan's frames as the fault shapes them; appends each text piece sent to `sent`.

    stall: pauses `stall_seconds` after the first chunk, then finishes normally. cut_stream: all
    chunks, no terminal events. mid_stream_error: half the chunks, then `error_frame`.
    malformed_json: the first chunk (or terminal frame) cut in half, then the end.
    """
    for frame in plan.head:
        yield frame
    middle = max(1, len(plan.chunks) // 2)
    for index, (frame, piece) in enumerate(zip(plan.chunks, pieces, strict=True)):
        if index and chunk_delay:
            await asyncio.sleep(chunk_delay)
        if index == middle and fault is Fault.mid_stream_error:
            yield error_frame
            return
        if fault is Fault.malformed_json:
            yield _truncated(frame)
            return
        yield frame
        sent.append(piece)
        if index == 0 and fault is Fault.stall:
            await asyncio.sleep(stall_seconds)
    if fault is Fault.mid_stream_error:  # too few chunks to break in the middle
        yield error_frame
    elif fault is Fault.malformed_json:
        yield _truncated(plan.tail[0])
    elif fault is not Fault.cut_stream:
        for frame in plan.tail:
            yield frame
