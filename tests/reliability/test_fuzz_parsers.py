"""Fuzzes every response and stream parser through the whole provider path.

Bodies start from valid ones and from the real recorded exchanges (../shared/fixtures/real),
then are mutated: JSON values replaced, keys dropped, nesting deepened, stream events dropped,
repeated or reordered, bytes cut, inserted or flipped; statuses, content types and retry
headers vary too. Each body is served by an `httpx.MockTransport`, so status handling, the
401 refresh, SSE parsing and JSON decoding all run. The only allowed outcomes are a
CompletionResponse with text, a stream of TextDeltas (and ReasoningDeltas) ending in one
StreamEnd whose content and reasoning text are their concatenations, or an LLMError whose
str() and repr() work. Anything else fails, and a hang fails each example's own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    LLMError,
    ReasoningDelta,
    ResponseDecodeError,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from ashford_llm.providers._http import parse_retry_after
from tests.reliability.vendors import VENDORS, error_body, make_provider, ok_body, sse_events

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real"
REQUEST = CompletionRequest([ChatMessage.user("Hello")])
EXAMPLE_DEADLINE_S = 10.0
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    # The seed corpus is large, so generating from it is slower than Hypothesis expects.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Seed(NamedTuple):
    """A starting body: its status, content type, and whether it is an event stream."""

    status: int
    content_type: str
    body: bytes
    stream: bool


def synthetic_seeds(vendor: str) -> list[Seed]:
    """Valid bodies written here: answers, streams, error envelopes, errors inside streams."""
    sse = "text/event-stream"
    json_type = "application/json"
    stream_errors: dict[str, dict[str, Any]] = {
        "openai": {"error": {"message": "overloaded", "type": "server_error"}},
        "anthropic": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
        "google": {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}},
    }
    stream_error = stream_errors[vendor]
    quota = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "PerMinute", "quotaValue": "10"}],
                },
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE"},
            ],
        }
    }
    return [
        Seed(200, json_type, ok_body(vendor, "Hello there"), False),
        Seed(200, sse, "".join(sse_events(vendor, ["Hel", "lo"])).encode(), True),
        Seed(200, sse, f"data: {json.dumps(stream_error)}\n\n".encode(), True),
        Seed(200, sse, json.dumps(stream_error).encode(), True),
        Seed(401, json_type, error_body(vendor, 401, "bad key"), False),
        Seed(500, json_type, error_body(vendor, 500, "boom"), False),
        Seed(429, json_type, json.dumps(quota).encode(), False),
    ]


def real_seeds(vendor: str) -> list[Seed]:
    """The recorded exchanges of `vendor`, or none when the shared recordings are absent."""
    folder = REAL / ("google" if vendor == "google" else vendor)
    seeds = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        response = json.loads(path.read_text())["response"]
        headers = {k.lower(): v for k, v in response["headers"].items()}
        content_type = headers.get("content-type", "application/json")
        seeds.append(
            Seed(
                response["status"],
                content_type,
                response["body_text"].encode(),
                "event-stream" in content_type,
            )
        )
    return seeds


SEEDS = {vendor: synthetic_seeds(vendor) + real_seeds(vendor) for vendor in VENDORS}

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "stop", "STOP", "end_turn", "text", "text_delta", "error", "[DONE]"]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


DEEP = re.compile(r'"\\u0000deep(\d+)"')
"""A placeholder `dumps` expands into arrays nested that deep (json.dumps would recurse)."""


def deep(depth: int) -> str:
    """A placeholder for a JSON value nested `depth` arrays deep."""
    return f"\x00deep{depth}"


def dumps(value: Any) -> str:
    """Encodes JSON, expanding `deep` placeholders."""
    return DEEP.sub(lambda m: "[" * int(m[1]) + "]" * int(m[1]), json.dumps(value))


@st.composite
def mutate_json(draw: st.DrawFn, value: Any) -> Any:
    """Replaces, drops, adds or deeply nests one node of a JSON document."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        out = dict(value)
        action = draw(st.sampled_from(["descend", "descend", "drop", "add"]))
        if action == "drop":
            del out[key]
        elif action == "add":
            out[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        else:
            out[key] = draw(mutate_json(value[key]))
        return out
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        out_list = list(value)
        out_list[index] = draw(mutate_json(value[index]))
        return out_list
    if draw(st.integers(0, 19)) == 0:
        return deep(draw(st.sampled_from([50, 600, 1500])))
    return draw(JSON_VALUES)


@st.composite
def mutate_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """Cuts, inserts, deletes or flips a few bytes."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["cut", "insert", "delete", "flip"]))
        if action == "cut":
            body = body[:at]
        elif action == "insert":
            body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
        elif action == "delete":
            body = body[:at] + body[at + draw(st.integers(1, 16)) :]
        elif at < len(body):
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    return body


@st.composite
def mutate_events(draw: st.DrawFn, body: bytes) -> bytes:
    """Drops, repeats, reorders or mutates the JSON of the events of an event stream."""
    events = [e for e in body.decode("utf-8", "replace").split("\n\n") if e.strip()]
    for _ in range(draw(st.integers(0, 3))):
        if not events:
            break
        at = draw(st.integers(0, len(events) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "swap", "json", "json"]))
        if action == "drop":
            del events[at]
        elif action == "repeat":
            events.insert(at, events[at])
        elif action == "swap":
            other = draw(st.integers(0, len(events) - 1))
            events[at], events[other] = events[other], events[at]
        else:
            lines = events[at].split("\n")
            for i, line in enumerate(lines):
                if line.startswith("data:"):
                    try:
                        data = json.loads(line[5:])
                    except ValueError:
                        continue
                    lines[i] = "data: " + dumps(draw(mutate_json(data)))
            events[at] = "\n".join(lines)
    return ("\n\n".join(events) + ("\n\n" if draw(st.booleans()) else "")).encode()


class Exchange(NamedTuple):
    """What the fake vendor answers, every time it is asked."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@st.composite
def exchanges(draw: st.DrawFn, vendor: str, stream: bool) -> Exchange:
    """A seed of `vendor`, preferring the requested kind, mutated at one or more levels."""
    seeds = [s for s in SEEDS[vendor] if s.stream == stream] or SEEDS[vendor]
    seed = draw(st.sampled_from(seeds) | st.sampled_from(SEEDS[vendor]))
    body = seed.body
    if seed.stream and draw(st.booleans()):
        body = draw(mutate_events(body))
    elif not seed.stream and draw(st.booleans()):
        with contextlib.suppress(ValueError):
            body = dumps(draw(mutate_json(json.loads(body)))).encode()
    if draw(st.integers(0, 3)) == 0:
        body = draw(mutate_bytes(body))
    status = draw(
        st.just(seed.status) | st.sampled_from([200, 204, 302, 400, 401, 404, 408, 429, 500, 529])
    )
    content_type = draw(
        st.just(seed.content_type)
        | st.sampled_from(["text/event-stream", "application/json", "text/html", ""])
    )
    headers = [("content-type", content_type)] if content_type else []
    for name in ("retry-after", "retry-after-ms", "x-should-retry", "x-request-id", "request-id"):
        if draw(st.integers(0, 4)) == 0:
            headers.append((name, draw(HEADER_TEXT | st.sampled_from(["1.5", "-1", "nan", "inf"]))))
    return Exchange(status, headers, body)


def transport(exchange: Exchange) -> httpx.MockTransport:
    """Answers every request (the 401 refresh included) with the same exchange."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(exchange.status, headers=exchange.headers, content=exchange.body)

    return httpx.MockTransport(handler)


async def call(vendor: str, stream: bool, exchange: Exchange) -> CompletionResponse | LLMError:
    """Makes one call; returns the response, or the LLMError raised (anything else escapes)."""
    async with httpx.AsyncClient(transport=transport(exchange)) as client:
        provider = make_provider(vendor, "http://vendor.test", client, api_key="k-test")
        try:
            if not stream:
                return await provider.complete(REQUEST)
            texts: list[str] = []
            thoughts: list[str] = []
            ends: list[StreamEnd] = []
            async for event in provider.stream(REQUEST):
                assert not ends, "an event after StreamEnd"
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    thoughts.append(event.text)
                elif isinstance(event, ToolCallDelta):
                    assert event.index >= 0, event
                else:
                    assert isinstance(event, StreamEnd), event
                    ends.append(event)
            assert len(ends) == 1, "a stream ended without StreamEnd"
            assert ends[0].response.content == "".join(texts)
            assert (ends[0].response.reasoning_text or "") == "".join(thoughts)
            return ends[0].response
        except LLMError as error:
            return error


def check(vendor: str, stream: bool, exchange: Exchange) -> CompletionResponse | LLMError:
    """Runs one call under its deadline and checks the outcome is an allowed one."""

    async def bounded() -> CompletionResponse | LLMError:
        return await asyncio.wait_for(call(vendor, stream, exchange), EXAMPLE_DEADLINE_S)

    outcome = asyncio.run(bounded())
    if isinstance(outcome, LLMError):
        assert str(outcome)
        assert repr(outcome)
        assert outcome.provider == vendor
    else:
        assert isinstance(outcome, CompletionResponse)
        assert outcome.content
        assert outcome.provider == vendor
    return outcome


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_mutated_bodies_parse_or_raise_an_llm_error(vendor: str, stream: bool) -> None:
    @FUZZ
    @given(exchange=exchanges(vendor, stream))
    def fuzz(exchange: Exchange) -> None:
        event(type(check(vendor, stream, exchange)).__name__)  # see --hypothesis-show-statistics

    fuzz()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [200, 400, 500])
def test_deeply_nested_bodies_raise_an_llm_error(vendor: str, stream: bool, status: int) -> None:
    nested = dumps({"error": {"message": "x", "details": deep(5000)}, "x": deep(5000)})
    content_type = "text/event-stream" if stream and status == 200 else "application/json"
    body = f"data: {nested}\n\n" if content_type == "text/event-stream" else nested
    exchange = Exchange(status, [("content-type", content_type)], body.encode())
    outcome = check(vendor, stream, exchange)
    assert isinstance(outcome, LLMError)
    if status == 200:
        assert isinstance(outcome, ResponseDecodeError)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [200, 400])
def test_bodies_that_are_not_utf8_raise_an_llm_error(
    vendor: str, stream: bool, status: int
) -> None:
    if status == 200:  # a Latin-1 "é" where UTF-8 is due
        body = ok_body(vendor, "caf\u00e9").replace(b"\\u00e9", b"\xe9")
    else:
        body = b'{"error": {"message": "caf\xe9", "status": "INTERNAL"}}'
    content_type = "text/event-stream" if stream and status == 200 else "application/json"
    if content_type == "text/event-stream":
        body = b"data: " + body + b"\n\n"
    outcome = check(vendor, stream, Exchange(status, [("content-type", content_type)], body))
    # httpx decodes event streams with replacement characters, so only whole bodies must fail.
    assert isinstance(outcome, LLMError) or content_type == "text/event-stream"


def test_a_quota_failure_with_malformed_violations_is_still_a_typed_error() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": 5},
            ],
        }
    }
    exchange = Exchange(429, [("content-type", "application/json")], json.dumps(body).encode())
    outcome = check("google", False, exchange)
    assert isinstance(outcome, LLMError)
    assert outcome.status == 429


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms"]),
        HEADER_TEXT
        | st.sampled_from(
            ["Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 +9999", "1e999", "-0"]
        ),
    ),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_retry_after_headers_give_a_wait_or_none(headers: dict[str, str], now: float) -> None:
    wait = parse_retry_after(headers, now=now)
    assert wait is None or (isinstance(wait, float) and 0 <= wait < float("inf"))
