import asyncio
import math
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiolimiter import AsyncLimiter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    CachePoint,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    FatalError,
    ImagePart,
    InvalidRequestError,
    ReasoningPart,
    ServerError,
    StreamEnd,
    TextPart,
)
from ashford_llm.middleware import LimiterBackend, RateLimit, RateLimiter, Retry
from ashford_llm.middleware._semconv import RATE_LIMIT_WAIT_EVENT, RATE_LIMIT_WAIT_S
from ashford_llm.middleware.rate_limit import estimate_input_tokens
from ashford_llm.middleware.rate_limit.limiter import adjust_level
from ashford_llm.middleware.rate_limit.media import Vendor, image_size, pdf_pages
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider, MockStream

T = TypeVar("T")

NO_WAIT = pytest.approx(0.0, abs=1e-9)
"""No virtual time passed (the clock moves a float step per loop turn)."""


class _Clock:
    """The virtual time of a VirtualTimeLoop."""

    def __init__(self) -> None:
        self.now = 0.0


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking until the next timer, jumps the clock to it."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        ready: list[Any] = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is set")
        # Time always moves on by at least one float step, as a real clock does between loop
        # turns; otherwise a timer due less than a step away would be re-armed forever.
        step = math.nextafter(self._clock.now, math.inf)
        self._clock.now = max(self._clock.now + timeout, step)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task waits: sleeps take no real time."""

    def __init__(self) -> None:
        self.clock = _Clock()
        super().__init__(_VirtualSelector(self.clock))

    def time(self) -> float:
        return self.clock.now


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Runs `main()` on a fresh VirtualTimeLoop starting at time 0."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())  # type: ignore[arg-type]


def now() -> float:
    return asyncio.get_running_loop().time()


def request(chars: int = 4, max_tokens: int = 1) -> CompletionRequest:
    """A request whose token estimate is chars/4 input plus `max_tokens` output."""
    return CompletionRequest([ChatMessage.user("x" * chars)], max_tokens=max_tokens)


def exact_usage(request: CompletionRequest) -> CompletionResponse:
    """Answers reporting exactly the usage RateLimit estimated, so no settlement happens."""
    return CompletionResponse(
        content="ok",
        model="mock-model",
        input_tokens=estimate_input_tokens(request),
        output_tokens=request.max_tokens or 0,
        latency_ms=0.0,
        finish_reason="stop",
        provider="mock",
    )


def usage_of(total: int) -> Callable[[CompletionRequest], CompletionResponse]:
    """Answers reporting `total` tokens used, whatever was asked."""

    def answer(request: CompletionRequest) -> CompletionResponse:
        return CompletionResponse(
            content="ok",
            model="mock-model",
            input_tokens=1,
            output_tokens=total - 1,
            latency_ms=0.0,
            finish_reason="stop",
            provider="mock",
        )

    return answer


async def one_second_call(request: CompletionRequest) -> str:
    await asyncio.sleep(1)
    return "ok"


async def timed(layer: RateLimit, req: CompletionRequest) -> float:
    """Completes `req` and returns the virtual time it took."""
    started = now()
    await layer.complete(req)
    return now() - started


# Rate


def test_rate_limit_holds_requests_per_minute_within_one_percent() -> None:
    async def main() -> list[float]:
        layer = RateLimit(MockProvider(exact_usage), requests_per_minute=600)
        done: list[float] = []

        async def call() -> None:
            await layer.complete(request())
            done.append(now())

        await asyncio.gather(*(call() for _ in range(2000)))
        return done

    done = run(main)
    # After the first minute's burst, completions follow the refill rate.
    in_second_minute = sum(1 for t in done if 60 <= t < 120)
    assert abs(in_second_minute - 600) <= 6, in_second_minute


def test_rate_limit_holds_tokens_per_minute_within_one_percent() -> None:
    async def main() -> list[float]:
        layer = RateLimit(MockProvider(exact_usage), tokens_per_minute=600_000)
        done: list[float] = []

        async def call() -> None:
            await layer.complete(request(chars=400, max_tokens=900))  # 1000 tokens
            done.append(now())

        await asyncio.gather(*(call() for _ in range(2000)))
        return done

    done = run(main)
    tokens_in_second_minute = 1000 * sum(1 for t in done if 60 <= t < 120)
    assert abs(tokens_in_second_minute - 600_000) <= 6_000, tokens_in_second_minute


def test_rate_limit_bounds_calls_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def tracked(request: CompletionRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(1)
        in_flight -= 1
        return "ok"

    async def main() -> float:
        layer = RateLimit(MockProvider(tracked), max_concurrency=3)
        await asyncio.gather(*(layer.complete(request()) for _ in range(10)))
        return now()

    assert run(main) == pytest.approx(4.0)
    assert peak == 3


# Token settlement


def test_rate_limit_refunds_an_over_estimate_after_the_call() -> None:
    async def main() -> float:
        layer = RateLimit(MockProvider(usage_of(200)), tokens_per_minute=10_000)
        await layer.complete(request(chars=400, max_tokens=900))  # charged 1000, used 200
        return await timed(layer, request(chars=4, max_tokens=9_799))  # 9800 more

    assert run(main) == NO_WAIT


def test_rate_limit_charges_usage_above_the_estimate_without_waiting() -> None:
    async def main() -> tuple[float, float]:
        layer = RateLimit(MockProvider(usage_of(5000)), tokens_per_minute=10_000)
        first = await timed(layer, request(chars=400, max_tokens=900))  # charged 1000, used 5000
        second = await timed(layer, request(chars=4, max_tokens=5_999))  # 6000 more
        return first, second

    first, second = run(main)
    assert first == NO_WAIT
    # 1000 tokens over the budget drain at 10_000 per minute: 6 seconds.
    assert second == pytest.approx(6.0)


def test_rate_limit_keeps_only_the_input_estimate_charged_after_a_failure() -> None:
    async def main() -> tuple[float, float]:
        fitting, more = request(chars=4, max_tokens=9_899), request(chars=4, max_tokens=99)
        mock = MockProvider([ServerError("boom"), exact_usage(fitting), exact_usage(more)])
        layer = RateLimit(mock, tokens_per_minute=10_000, default_max_tokens=900)
        with pytest.raises(ServerError):
            await layer.complete(CompletionRequest([ChatMessage.user("x" * 400)]))  # 100 + 900
        fits = await timed(layer, fitting)  # 100 kept + 9900 = the whole budget
        return fits, await timed(layer, more)

    fits, then = run(main)
    assert fits == NO_WAIT
    assert then == pytest.approx(0.6)  # 100 tokens over the budget, at 10_000 per minute


def test_rate_limit_settles_a_stream_against_its_stream_end_usage() -> None:
    async def main() -> tuple[list[int], float]:
        mock = MockProvider(["two words", "ok"])
        layer = RateLimit(mock, tokens_per_minute=10_000)
        used = [
            event.response.input_tokens + event.response.output_tokens
            async for event in layer.stream(request(chars=400, max_tokens=900))
            if isinstance(event, StreamEnd)
        ]
        return used, await timed(layer, request(chars=4, max_tokens=9_996))

    used, wait = run(main)
    assert used == [3]  # the mock counts words: one input, two output
    # 3 + 9997 fits the budget only if the estimate of 1000 was settled down to 3.
    assert wait == NO_WAIT


def test_adjust_level_refunds_and_charges_a_bucket() -> None:
    async def main() -> list[bool]:
        bucket = AsyncLimiter(100, 60)
        await bucket.acquire(100)
        full = bucket.has_capacity(1)
        adjust_level(bucket, -40)
        after_refund = [bucket.has_capacity(40), bucket.has_capacity(41)]
        adjust_level(bucket, 1000)
        adjust_level(bucket, -5000)
        return [full, *after_refund, bucket.has_capacity(100)]

    assert run(main) == [False, True, False, True]


# Budget errors, fairness, cancellation, sharing


def test_rate_limit_rejects_a_request_larger_than_the_token_budget_at_once() -> None:
    async def main() -> tuple[MockProvider, float, InvalidRequestError]:
        mock = MockProvider(["ok"])
        layer = RateLimit(mock, tokens_per_minute=1000)
        with pytest.raises(InvalidRequestError, match="more than the whole budget") as caught:
            await layer.complete(request(chars=4, max_tokens=1000))  # 1001
        return mock, now(), caught.value

    mock, elapsed, error = run(main)
    assert isinstance(error, FatalError)
    assert error.error_type == "exceeds_token_budget"
    assert mock.requests == []
    assert elapsed == NO_WAIT


def test_rate_limit_does_not_starve_a_large_request_behind_small_ones() -> None:
    async def main() -> tuple[float, list[float]]:
        layer = RateLimit(MockProvider(exact_usage), tokens_per_minute=6000)
        small_done_after_big_arrived: list[float] = []
        big_done: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def small(tick: int) -> None:
            await layer.complete(request(chars=4, max_tokens=9))  # 10 tokens
            if tick >= 21:
                small_done_after_big_arrived.append(now())

        async def big() -> None:
            await layer.complete(request(chars=4, max_tokens=5999))  # the whole budget
            big_done.append(now())

        # Small requests arrive at twice the refill rate, for two simulated minutes.
        for tick in range(2400):
            if tick == 21:
                tasks.append(asyncio.create_task(big()))
            tasks.append(asyncio.create_task(small(tick)))
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        return big_done[0], small_done_after_big_arrived

    big_done_at, small_after = run(main)
    # It waits for the bucket to drain (seconds), not for the small ones to stop (2 minutes).
    assert big_done_at < 10.0
    assert min(small_after) >= big_done_at


def test_rate_limit_cancelled_waiter_gives_back_what_it_took() -> None:
    async def main() -> float:
        limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=1000, max_concurrency=1)
        layer = RateLimit(MockProvider(exact_usage), backend=limiter)
        await layer.complete(request(chars=4, max_tokens=999))  # the whole token budget
        waiting = asyncio.create_task(layer.complete(request(chars=4, max_tokens=999)))
        await asyncio.sleep(10)  # it holds the slot and a request permit, waiting for tokens
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # Slot, request permit and tokens all came back: a small call goes at once.
        return await asyncio.wait_for(timed(layer, request(chars=4, max_tokens=9)), 1)

    assert run(main) == NO_WAIT


def test_rate_limit_abandoned_stream_releases_its_slot() -> None:
    async def main() -> tuple[float, MockProvider]:
        mock = MockProvider([MockStream(chunks=["a", "b", "c"], chunk_delay=1), "ok"])
        layer = RateLimit(mock, max_concurrency=1)
        events = layer.stream(request())
        await anext(events)
        await events.aclose()  # type: ignore[attr-defined]
        return await asyncio.wait_for(timed(layer, request()), 5), mock

    wait, mock = run(main)
    assert wait == NO_WAIT
    assert len(mock.requests) == 2


def test_rate_limit_failed_call_releases_its_slot() -> None:
    async def main() -> float:
        layer = RateLimit(MockProvider([ServerError("boom"), "ok"]), max_concurrency=1)
        with pytest.raises(ServerError):
            await layer.complete(request())
        return await asyncio.wait_for(timed(layer, request()), 5)

    assert run(main) == NO_WAIT


def test_rate_limit_failed_stream_releases_its_slot_and_output_allowance() -> None:
    async def main() -> tuple[list[str], float]:
        more = request(chars=4, max_tokens=9_899)
        mock = MockProvider([MockStream(chunks=["a"], error=ServerError("cut")), exact_usage(more)])
        layer = RateLimit(mock, tokens_per_minute=10_000, max_concurrency=1)
        seen: list[str] = []
        with pytest.raises(ServerError):
            async for event in layer.stream(request(chars=400, max_tokens=900)):
                seen.append(type(event).__name__)
        # 100 input tokens stay charged; 100 + 9900 is exactly the budget.
        return seen, await asyncio.wait_for(timed(layer, more), 5)

    seen, wait = run(main)
    assert seen == ["TextDelta"]
    assert wait == NO_WAIT


def test_rate_limit_shared_limiter_limits_two_stacks_together() -> None:
    async def main() -> list[float]:
        shared = RateLimiter(requests_per_minute=60)
        first = RateLimit(MockProvider(exact_usage, name="one"), backend=shared)
        second = RateLimit(MockProvider(exact_usage, name="two"), backend=shared)
        done: list[float] = []

        async def call(layer: RateLimit) -> None:
            await layer.complete(request())
            done.append(now())

        await asyncio.gather(*(call(layer) for layer in (first, second) for _ in range(60)))
        return done

    done = run(main)
    assert sum(1 for t in done if t < 1) == 60  # one burst between them, not one each
    assert max(done) == pytest.approx(60.0)
    assert isinstance(RateLimiter(max_concurrency=1), LimiterBackend)


def no_jitter() -> float:
    return 0.0


def test_rate_limit_inside_retry_makes_every_attempt_take_a_permit() -> None:
    async def main() -> tuple[str, float, int]:
        mock = MockProvider([ServerError("boom"), "ok"])
        stack = (
            ClientBuilder()
            .use(Retry, jitter=no_jitter)
            .use(RateLimit, requests_per_minute=1)
            .build(mock)
        )
        response = await stack.complete(request())
        return response.content, now(), len(mock.requests)

    content, elapsed, calls = run(main)
    assert (content, calls) == ("ok", 2)
    assert elapsed == pytest.approx(60.0)  # the retry waited for the next permit


# Visibility, repr, options


def test_rate_limit_records_its_wait_on_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    async def main() -> None:
        layer = RateLimit(MockProvider(["ok", "ok"]), requests_per_minute=1)
        for name in ("first", "second"):
            with tracer.start_as_current_span(name):
                await layer.complete(request())

    run(main)
    first, second = exporter.get_finished_spans()
    assert list(first.events) == []
    (event,) = second.events
    assert event.name == RATE_LIMIT_WAIT_EVENT
    assert event.attributes is not None
    assert event.attributes[RATE_LIMIT_WAIT_S] == pytest.approx(60.0)


def test_rate_limit_repr_shows_only_the_limits_set() -> None:
    layer = RateLimit(MockProvider(["ok"]), requests_per_minute=500.0, max_concurrency=8)
    assert repr(layer) == (
        "RateLimit(requests_per_minute=500, max_concurrency=8) -> "
        "MockProvider(name='mock', model='mock-model')"
    )


def test_estimate_counts_four_characters_per_token_rounded_up() -> None:
    req = CompletionRequest([ChatMessage.system("x" * 5), ChatMessage.user("y" * 4)])
    assert estimate_input_tokens(req) == 3


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, ValueError),
        ({"requests_per_minute": 0}, ValueError),
        ({"requests_per_minute": float("inf")}, ValueError),
        ({"tokens_per_minute": -5}, ValueError),
        ({"tokens_per_minute": 10.5}, TypeError),
        ({"max_concurrency": True}, TypeError),
        ({"max_concurrency": 2, "default_max_tokens": 0}, ValueError),
        ({"max_concurrency": 2, "backend": RateLimiter(max_concurrency=2)}, ValueError),
        ({"backend": "shared"}, TypeError),
    ],
)
def test_rate_limit_rejects_bad_options_when_built(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        RateLimit(MockProvider(["ok"]), **options)  # type: ignore[arg-type]


def test_rate_limit_below_one_request_per_minute_spaces_calls_out() -> None:
    async def main() -> list[float]:
        layer = RateLimit(MockProvider(["a", "b", "c"]), requests_per_minute=0.5)
        return [await timed(layer, request()) for _ in range(3)]

    assert run(main) == [NO_WAIT, pytest.approx(120.0), pytest.approx(120.0)]


class ConfiguredMock(MockProvider):
    """A mock terminal describing a default output budget, as RateLimit reads it."""

    def __init__(self, script: list[Any], max_output_tokens: int) -> None:
        info = ProviderInfo(name="openai", model="gpt-4o-mini", max_output_tokens=max_output_tokens)
        super().__init__(script, info=info)


def test_rate_limit_charges_the_terminal_configs_max_output_tokens_by_default() -> None:
    async def main() -> tuple[float, float]:
        unbounded = CompletionRequest([ChatMessage.user("x" * 4)])  # 1 + 999: fits the budget
        heavy = usage_of(10_000)(unbounded)
        terminal = ConfiguredMock([heavy, "ok"], max_output_tokens=999)
        layer = RateLimit(Retry(terminal), tokens_per_minute=1_000)
        assert layer.default_max_tokens == 999
        first = await timed(layer, unbounded)
        return first, await timed(layer, unbounded)

    first, second = run(main)
    assert first == NO_WAIT
    assert second > 0  # the first call really used 10_000 tokens: a debt to wait off


def test_rate_limit_keeps_the_estimate_when_the_server_reports_no_usage() -> None:
    async def main() -> float:
        silent = CompletionResponse(
            content="ok",
            model="m",
            input_tokens=0,
            output_tokens=0,
            latency_ms=0.0,
            finish_reason="stop",
            provider="mock",
        )
        layer = RateLimit(MockProvider([silent, "ok"]), tokens_per_minute=1_000)
        await layer.complete(request(chars=4, max_tokens=999))  # 1000 estimated, 0 reported
        return await timed(layer, request(chars=4, max_tokens=99))

    assert run(main) == pytest.approx(6.0)  # 100 tokens at 1000 per minute


# --- attachments: each vendor's documented counting, never the length of the bytes ---


def png(width: int, height: int, *, padding: int = 0) -> bytes:
    """A PNG signature and IHDR chunk of the given size (enough for the header reader)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + ihdr + b"\x00" * (4 + padding)


def jpeg(width: int, height: int) -> bytes:
    """A JPEG start, an APP0 segment to skip, then a baseline start-of-frame."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return b"\xff\xd8" + app0 + sof + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\x00" * 4


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"VP8X" + b"\x0a\x00\x00\x00" + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + len(body).to_bytes(4, "little") + b"WEBP" + body


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"VP8L" + b"\x05\x00\x00\x00" + b"\x2f" + bits.to_bytes(4, "little")
    return b"RIFF" + len(body).to_bytes(4, "little") + b"WEBP" + body


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + width.to_bytes(2, "little")
    body = b"VP8 " + b"\x0a\x00\x00\x00" + frame + height.to_bytes(2, "little")
    return b"RIFF" + len(body).to_bytes(4, "little") + b"WEBP" + body


def pdf(pages: int) -> bytes:
    """A PDF skeleton with a page tree and `pages` page objects."""
    objects = [b"1 0 obj << /Type /Pages /Kids [] /Count %d >> endobj" % pages]
    objects += [b"%d 0 obj << /Type /Page /Parent 1 0 R >> endobj" % (i + 2) for i in range(pages)]
    return b"%PDF-1.4\n" + b"\n".join(objects) + b"\n%%EOF"


def with_parts(*parts: Any) -> CompletionRequest:
    return CompletionRequest([ChatMessage.user(*parts)])


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(640, 480), (640, 480)),
        (jpeg(1024, 768), (1024, 768)),
        (gif(31, 17), (31, 17)),
        (webp_vp8x(3000, 2000), (3000, 2000)),
        (webp_vp8l(500, 300), (500, 300)),
        (webp_vp8(320, 240), (320, 240)),
    ],
)
def test_image_size_reads_each_format_header(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", png(640, 480)[:20], jpeg(10, 10)[:8], b"\xff\xd8\x00\x00", gif(0, 5)],
)
def test_image_size_is_none_for_unreadable_or_truncated_headers(data: bytes) -> None:
    assert image_size(data) is None


@pytest.mark.parametrize(
    ("vendor", "width", "height", "tokens"),
    [
        # Anthropic: w*h/750, within a 1568 px long edge and about 1600 tokens.
        ("anthropic", 200, 200, 54),
        ("anthropic", 1000, 1000, 1334),
        ("anthropic", 4000, 3000, 1600),
        ("anthropic", 8000, 500, math.ceil(1568 * 98 / 750)),
        # OpenAI high detail: the guide's worked examples.
        ("openai", 1024, 1024, 765),
        ("openai", 2048, 4096, 1105),
        ("openai", 300, 200, 255),
        # Gemini: small images are one unit, larger ones 768 px tiles.
        ("gemini", 384, 300, 258),
        ("gemini", 1000, 800, 1032),
    ],
)
def test_image_tokens_follow_each_vendors_documented_rule(
    vendor: Vendor, width: int, height: int, tokens: int
) -> None:
    assert estimate_input_tokens(with_parts(ImagePart(png(width, height))), vendor=vendor) == tokens


def test_image_estimate_does_not_grow_with_the_size_of_the_bytes() -> None:
    small = with_parts(ImagePart(png(800, 600)))
    heavy = with_parts(ImagePart(png(800, 600, padding=1_000_000)))
    for vendor in ("anthropic", "openai", "gemini", None):
        assert estimate_input_tokens(heavy, vendor=vendor) == estimate_input_tokens(
            small, vendor=vendor
        )
    assert estimate_input_tokens(heavy) < 2000


def test_unknown_vendor_is_charged_the_largest_rule() -> None:
    req = with_parts(ImagePart(png(1000, 1000)))
    by_vendor = [estimate_input_tokens(req, vendor=v) for v in ("anthropic", "openai", "gemini")]
    assert estimate_input_tokens(req) == max(by_vendor) == 1334


@pytest.mark.parametrize(
    ("vendor", "tokens"), [("anthropic", 1600), ("openai", 1445), ("gemini", 1032)]
)
def test_image_url_and_unreadable_image_get_the_fixed_allowance(
    vendor: Vendor, tokens: int
) -> None:
    by_url = with_parts(ImagePart(url="https://example.com/cat.png"))
    unreadable = with_parts(ImagePart(b"\x89PNG\r\n\x1a\n broken", media_type="image/png"))
    assert estimate_input_tokens(by_url, vendor=vendor) == tokens
    assert estimate_input_tokens(unreadable, vendor=vendor) == tokens


@pytest.mark.parametrize(
    ("vendor", "per_page"), [("anthropic", 3000), ("openai", 1500), ("gemini", 258)]
)
def test_pdf_is_counted_per_page(vendor: Vendor, per_page: int) -> None:
    three_pages = with_parts(DocumentPart(pdf(3)))
    assert estimate_input_tokens(three_pages, vendor=vendor) == 3 * per_page
    by_url = with_parts(DocumentPart(url="https://example.com/report.pdf"))
    assert estimate_input_tokens(by_url, vendor=vendor) == 10 * per_page


def test_pdf_pages_fall_back_to_the_page_tree_count_then_one_and_are_capped() -> None:
    assert pdf_pages(pdf(7)) == 7
    assert pdf_pages(b"%PDF-1.7 << /Type /Catalog >> << /Count 12 >> compressed") == 12
    assert pdf_pages(b"%PDF-1.7 nothing readable") == 1
    assert pdf_pages(b"%PDF-1.4" + b" /Type /Page " * 5000) == 1000


def test_a_text_document_counts_its_bytes_as_text() -> None:
    req = with_parts(DocumentPart(b"x" * 400, media_type="text/plain"))
    assert estimate_input_tokens(req, vendor="gemini") == 100


def test_text_and_reasoning_parts_count_their_text_and_a_cache_point_nothing() -> None:
    req = CompletionRequest(
        [
            ChatMessage.system(TextPart("s" * 8), CachePoint()),
            ChatMessage.user("u" * 4),
            ChatMessage.assistant(ReasoningPart("r" * 8, signature="sig" * 100), TextPart("a" * 4)),
        ]
    )
    assert estimate_input_tokens(req) == 6


def test_rate_limit_counts_attachments_by_the_terminals_vendor() -> None:
    image = CompletionRequest([ChatMessage.user("hi", ImagePart(png(1000, 1000)))], max_tokens=1)

    def stack(vendor: str) -> RateLimit:
        info = ProviderInfo(name=vendor, otel_provider_name=vendor)
        return RateLimit(MockProvider(["ok"], info=info), tokens_per_minute=1200)

    async def main() -> None:
        # Gemini: 4 tiles (1032) fit the 1200-token minute; Anthropic's 1334 cannot.
        assert (await stack("gcp.gemini").complete(image)).content == "ok"
        with pytest.raises(InvalidRequestError):
            await stack("anthropic").complete(image)

    run(main)
