"""The clients under test, each behind one tiny interface: `complete()`, `stream()`, `aclose()`.

Every client sends the same request (a system and a user message, temperature 0, 256 output
tokens, JSON output where the vendor has a switch for it) and checks the answer it gets, so no
client can win by skipping work. `base_url=None` runs a client in-process against an
`httpx.MockTransport` serving the canned bodies; otherwise it talks to the loopback server.

Imports happen inside the factories, so a fresh process importing this module pays only for
the client it builds (the import-time figures rely on it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from bodies import (
    ANSWER,
    ANTHROPIC_COMPLETION,
    ANTHROPIC_MODEL,
    ANTHROPIC_STREAM,
    MODEL,
    OPENAI_COMPLETION,
    OPENAI_STREAM,
    PROMPT,
    SYSTEM,
)

API_KEY = "sk-bench-0000000000000000"
MAX_TOKENS = 256


class BenchClient(Protocol):
    """One client under test."""

    async def complete(self) -> None:
        """Makes one call and checks its answer."""
        ...

    def stream(self) -> AsyncIterator[str]:
        """Streams one answer, yielding its text chunks."""
        ...

    async def aclose(self) -> None:
        """Releases connections."""
        ...


def _canned(path: str, stream: bool) -> tuple[bytes, str, str]:
    """Returns body, content type and request-id header name for a request path."""
    if path.endswith("/messages"):
        if stream:
            return ANTHROPIC_STREAM, "text/event-stream", "request-id"
        return ANTHROPIC_COMPLETION, "application/json", "request-id"
    if stream:
        return OPENAI_STREAM, "text/event-stream", "x-request-id"
    return OPENAI_COMPLETION, "application/json", "x-request-id"


def mock_handler(request: Any) -> Any:
    """Answers an httpx request in-process with the canned body."""
    import httpx

    body, content_type, rid = _canned(request.url.path, b'"stream":true' in request.content)
    return httpx.Response(
        200, content=body, headers={"content-type": content_type, rid: "req_0123456789abcdef"}
    )


def mock_handler_httpx2(request: Any) -> Any:
    """Answers an httpx2 request (the official SDKs' fork of httpx) with the canned body."""
    import httpx2

    stream = b'"stream":true' in request.content or b'"stream": true' in request.content
    body, content_type, rid = _canned(request.url.path, stream)
    return httpx2.Response(
        200, content=body, headers={"content-type": content_type, rid: "req_0123456789abcdef"}
    )


def _httpx_client(base_url: str | None) -> Any:
    """Returns an httpx.AsyncClient: in-process MockTransport, or ashford's loopback settings."""
    import httpx

    from ashford_llm.providers._http import DEFAULT_LIMITS, DEFAULT_TIMEOUT

    if base_url is None:
        return httpx.AsyncClient(transport=httpx.MockTransport(mock_handler))
    return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)


def _check(text: str) -> None:
    """Fails loudly when a client returned something other than the canned answer."""
    if text != ANSWER:
        raise AssertionError(f"unexpected answer {text[:80]!r}")


# --- the floor: raw httpx + msgspec -------------------------------------------------------


class FloorOpenAI:
    """Hand-written Chat Completions call: httpx post, msgspec encode and decode."""

    def __init__(self, base_url: str | None) -> None:
        import msgspec
        from floor_wire import OpenAIChunk, OpenAICompletion

        self._encoder = msgspec.json.Encoder()
        self._completion = msgspec.json.Decoder(OpenAICompletion)
        self._chunk = msgspec.json.Decoder(OpenAIChunk)
        self._client = _httpx_client(base_url)
        self._url = f"{base_url or 'http://mock'}/v1/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _body(self, stream: bool) -> bytes:
        body: dict[str, Any] = {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": PROMPT},
            ],
            "max_completion_tokens": MAX_TOKENS,
            "temperature": 0.0,
            "response_format": {"type": "json_object"},
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return self._encoder.encode(body)

    async def complete(self) -> None:
        response = await self._client.post(
            self._url, content=self._body(False), headers=self._headers
        )
        response.raise_for_status()
        _check(self._completion.decode(response.content).choices[0].message.content or "")

    async def stream(self) -> AsyncIterator[str]:
        from httpx_sse import aconnect_sse

        async with aconnect_sse(
            self._client, "POST", self._url, content=self._body(True), headers=self._headers
        ) as source:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                for choice in self._chunk.decode(sse.data).choices:
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content

    async def aclose(self) -> None:
        await self._client.aclose()


class FloorAnthropic:
    """Hand-written Messages call: httpx post, msgspec encode and decode."""

    def __init__(self, base_url: str | None) -> None:
        import msgspec
        from floor_wire import AnthropicEvent, AnthropicMessage

        self._encoder = msgspec.json.Encoder()
        self._message = msgspec.json.Decoder(AnthropicMessage)
        self._event = msgspec.json.Decoder(AnthropicEvent)
        self._client = _httpx_client(base_url)
        self._url = f"{base_url or 'http://mock'}/v1/messages"
        self._headers = {
            "x-api-key": API_KEY,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        }

    def _body(self, stream: bool) -> bytes:
        body: dict[str, Any] = {
            "model": ANTHROPIC_MODEL,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": MAX_TOKENS,
            "temperature": 0.0,
        }
        if stream:
            body["stream"] = True
        return self._encoder.encode(body)

    async def complete(self) -> None:
        response = await self._client.post(
            self._url, content=self._body(False), headers=self._headers
        )
        response.raise_for_status()
        message = self._message.decode(response.content)
        _check("".join(b.text or "" for b in message.content if b.type == "text"))

    async def stream(self) -> AsyncIterator[str]:
        from httpx_sse import aconnect_sse

        async with aconnect_sse(
            self._client, "POST", self._url, content=self._body(True), headers=self._headers
        ) as source:
            async for sse in source.aiter_sse():
                event = self._event.decode(sse.data)
                if event.type == "content_block_delta" and event.delta and event.delta.text:
                    yield event.delta.text
                elif event.type == "message_stop":
                    break

    async def aclose(self) -> None:
        await self._client.aclose()


# --- ashford_llm ----------------------------------------------------------------------------


class _DropExporter:
    """A span exporter that drops spans: the SDK's full recording cost, no I/O."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def recommended_stack(provider: Any, *, batch: bool = False, sdk: bool = True) -> Any:
    """Builds the recommended five-layer stack, Tracing on an SDK TracerProvider.

    The span processor is the SDK's SimpleSpanProcessor, or with `batch` its
    BatchSpanProcessor, as services run it (spans queued, exported from a worker thread).
    Without `sdk`, Tracing runs on the OpenTelemetry API alone (no-op spans), which shows
    what the SDK's span work costs.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.trace import NoOpTracerProvider

    from ashford_llm import ClientBuilder
    from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing

    tracer_provider: Any = NoOpTracerProvider()
    if sdk:
        tracer_provider = TracerProvider()
        processor = BatchSpanProcessor if batch else SimpleSpanProcessor
        tracer_provider.add_span_processor(processor(_DropExporter()))  # type: ignore[arg-type]
    return (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(Retry)
        .use(RateLimit, requests_per_minute=60_000_000)
        .use(Timeout, total=30)
        .use(JsonValidation)
        .build(provider)
    )


class _NeverStore:
    """A cache backend that keeps nothing, so every call takes Cache's miss path."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        return None


def full_stack(provider: Any, *, cache_hits: bool) -> Any:
    """Builds the recommended stack with Cache, Budget and Cost (docs/middleware.md's order).

    With `cache_hits` the cache is a MemoryCache, so every call after the first is a hit;
    otherwise it stores nothing and every call is a miss that runs the whole stack.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from ashford_llm import ClientBuilder
    from ashford_llm.middleware import (
        Budget,
        Cache,
        Cost,
        JsonValidation,
        MemoryCache,
        RateLimit,
        Retry,
        Timeout,
        Tracing,
    )

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_DropExporter()))  # type: ignore[arg-type]
    return (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(Cache, backend=MemoryCache() if cache_hits else _NeverStore())
        .use(Retry)
        .use(RateLimit, requests_per_minute=60_000_000)
        .use(Timeout, total=30)
        .use(JsonValidation)
        .use(Budget, limit=1_000_000, window=86400)
        .use(Cost)
        .build(provider)
    )


class Ashford:
    """An ashford_llm provider or stack."""

    def __init__(self, provider: Any, *, anthropic: bool = False) -> None:
        from ashford_llm import ChatMessage, CompletionRequest

        self._provider = provider
        # A provider does not close a client it was given: close it here.
        self._client = getattr(_terminal(provider), "_client", None)
        self._request = CompletionRequest(
            messages=[ChatMessage.system(SYSTEM), ChatMessage.user(PROMPT)],
            json_mode=not anthropic,
        )

    async def complete(self) -> None:
        _check((await self._provider.complete(self._request)).content)

    async def stream(self) -> AsyncIterator[str]:
        from ashford_llm import TextDelta

        events = self._provider.stream(self._request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield event.text
        finally:
            await events.aclose()

    async def aclose(self) -> None:
        await self._provider.aclose()
        if self._client is not None and not self._client.is_closed:
            await self._client.aclose()


def _terminal(provider: Any) -> Any:
    """Returns the provider at the bottom of a stack."""
    while hasattr(provider, "inner"):
        provider = provider.inner
    return provider


def _openai_provider(base_url: str | None, http_client: Any = None) -> Any:
    from ashford_llm import ModelConfig
    from ashford_llm.providers.openai import OpenAIProvider

    if http_client is None and base_url is None:
        http_client = _httpx_client(None)
    return OpenAIProvider(
        ModelConfig(provider="openai", model=MODEL, temperature=0.0, max_output_tokens=MAX_TOKENS),
        api_key=API_KEY,
        base_url=f"{base_url or 'http://mock'}/v1",
        http_client=http_client,
    )


def _aiohttp_client() -> Any:
    """Returns an httpx.AsyncClient whose transport is aiohttp (ashford's documented helper)."""
    from ashford_llm.providers import aiohttp_client

    return aiohttp_client()


def ashford(base_url: str | None) -> BenchClient:
    """The bare OpenAIProvider."""
    return Ashford(_openai_provider(base_url))


def ashford_stack(base_url: str | None) -> BenchClient:
    """OpenAIProvider under the recommended five-layer stack."""
    return Ashford(recommended_stack(_openai_provider(base_url)))


def ashford_stack_api_only(base_url: str | None) -> BenchClient:
    """The recommended stack with Tracing on the OpenTelemetry API alone (no SDK)."""
    return Ashford(recommended_stack(_openai_provider(base_url), sdk=False))


def ashford_full_stack_miss(base_url: str | None) -> BenchClient:
    """OpenAIProvider under the recommended stack with Cache (always missing), Budget, Cost."""
    return Ashford(full_stack(_openai_provider(base_url), cache_hits=False))


def ashford_full_stack_hit(base_url: str | None) -> BenchClient:
    """The same stack answering every call from its cache (no provider call)."""
    return Ashford(full_stack(_openai_provider(base_url), cache_hits=True))


def ashford_stack_batch(base_url: str | None) -> BenchClient:
    """The recommended stack with Tracing on a BatchSpanProcessor."""
    return Ashford(recommended_stack(_openai_provider(base_url), batch=True))


def ashford_aiohttp(base_url: str | None) -> BenchClient:
    """The bare OpenAIProvider on the httpx-aiohttp transport."""
    if base_url is None:
        return ashford(None)
    return Ashford(_openai_provider(base_url, _aiohttp_client()))


def ashford_aiohttp_stack(base_url: str | None) -> BenchClient:
    """The recommended stack over OpenAIProvider on the httpx-aiohttp transport."""
    if base_url is None:
        return ashford_stack(None)
    return Ashford(recommended_stack(_openai_provider(base_url, _aiohttp_client())))


def ashford_httpx(base_url: str | None) -> BenchClient:
    """The bare OpenAIProvider on an httpx 0.28 client with the old default settings.

    Before httpx2 became the providers' own client they built
    `httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=Limits(256, 64))`; this is that client.
    """
    import httpx

    from ashford_llm.providers._http import DEFAULT_TIMEOUT

    if base_url is None:
        return ashford(None)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
    client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=limits)
    return Ashford(_openai_provider(base_url, client))


def ashford_anthropic(base_url: str | None) -> BenchClient:
    """The bare AnthropicProvider."""
    from ashford_llm import ModelConfig
    from ashford_llm.providers.anthropic import AnthropicProvider

    provider = AnthropicProvider(
        ModelConfig(
            provider="anthropic",
            model=ANTHROPIC_MODEL,
            temperature=0.0,
            max_output_tokens=MAX_TOKENS,
        ),
        api_key=API_KEY,
        base_url=base_url or "http://mock",
        http_client=_httpx_client(None) if base_url is None else None,
    )
    return Ashford(provider, anthropic=True)


# --- the peers -------------------------------------------------------------------------------


class OpenAISDK:
    """The official openai SDK's AsyncOpenAI."""

    def __init__(self, base_url: str | None) -> None:
        import openai

        http_client = None
        if base_url is None:
            import httpx2

            http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(mock_handler_httpx2))
        self._client = openai.AsyncOpenAI(
            api_key=API_KEY, base_url=f"{base_url or 'http://mock'}/v1", http_client=http_client
        )
        self._messages: Any = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]

    async def complete(self) -> None:
        completion = await self._client.chat.completions.create(
            model=MODEL,
            messages=self._messages,
            max_completion_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
        )
        _check(completion.choices[0].message.content or "")

    async def stream(self) -> AsyncIterator[str]:
        chunks = await self._client.chat.completions.create(
            model=MODEL,
            messages=self._messages,
            max_completion_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
            stream=True,
            stream_options={"include_usage": True},
        )
        async with chunks:
            async for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content

    async def aclose(self) -> None:
        await self._client.close()


class AnthropicSDK:
    """The official anthropic SDK's AsyncAnthropic."""

    def __init__(self, base_url: str | None) -> None:
        import anthropic

        http_client = None
        if base_url is None:
            import httpx2

            http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(mock_handler_httpx2))
        self._client = anthropic.AsyncAnthropic(
            api_key=API_KEY, base_url=base_url or "http://mock", http_client=http_client
        )
        self._messages: Any = [{"role": "user", "content": PROMPT}]

    async def complete(self) -> None:
        message = await self._client.messages.create(
            model=ANTHROPIC_MODEL,
            system=SYSTEM,
            messages=self._messages,
            max_tokens=MAX_TOKENS,
        )
        _check("".join(b.text for b in message.content if b.type == "text"))

    async def stream(self) -> AsyncIterator[str]:
        events = await self._client.messages.create(
            model=ANTHROPIC_MODEL,
            system=SYSTEM,
            messages=self._messages,
            max_tokens=MAX_TOKENS,
            stream=True,
        )
        async with events:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield event.delta.text

    async def aclose(self) -> None:
        await self._client.close()


class PydanticAI:
    """pydantic-ai's OpenAIChatModel (or AnthropicModel), called through `pydantic_ai.direct`."""

    def __init__(self, base_url: str | None, *, anthropic: bool = False) -> None:
        if base_url is None:
            raise ValueError("pydantic-ai is measured over loopback only")
        from pydantic_ai.messages import ModelRequest, SystemPromptPart, UserPromptPart

        if anthropic:
            from pydantic_ai.models.anthropic import AnthropicModel
            from pydantic_ai.providers.anthropic import AnthropicProvider

            self._model: Any = AnthropicModel(
                ANTHROPIC_MODEL, provider=AnthropicProvider(api_key=API_KEY, base_url=base_url)
            )
        else:
            from pydantic_ai.models.openai import OpenAIChatModel
            from pydantic_ai.providers.openai import OpenAIProvider

            self._model = OpenAIChatModel(
                MODEL, provider=OpenAIProvider(api_key=API_KEY, base_url=f"{base_url}/v1")
            )
        self._messages = [ModelRequest(parts=[SystemPromptPart(SYSTEM), UserPromptPart(PROMPT)])]
        self._settings: Any = {"temperature": 0.0, "max_tokens": MAX_TOKENS}

    async def complete(self) -> None:
        from pydantic_ai.direct import model_request

        response = await model_request(self._model, self._messages, model_settings=self._settings)
        _check("".join(getattr(part, "content", "") for part in response.parts))

    async def stream(self) -> AsyncIterator[str]:
        from pydantic_ai.direct import model_request_stream
        from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

        async with model_request_stream(
            self._model, self._messages, model_settings=self._settings
        ) as events:
            async for event in events:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    if event.part.content:
                        yield event.part.content
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    yield event.delta.content_delta

    async def aclose(self) -> None:
        client = getattr(self._model, "client", None)
        close = getattr(client, "close", None)
        if close is not None:
            await close()


def pydantic_ai_anthropic(base_url: str | None) -> BenchClient:
    """pydantic-ai's AnthropicModel."""
    return PydanticAI(base_url, anthropic=True)


class AnyLLM:
    """any-llm's AnyLLM client for the openai provider (one client, reused across calls)."""

    def __init__(self, base_url: str | None) -> None:
        if base_url is None:
            raise ValueError("any-llm is measured over loopback only")
        from any_llm import AnyLLM as Client

        self._client = Client.create("openai", api_key=API_KEY, api_base=f"{base_url}/v1")
        self._messages: Any = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]

    async def complete(self) -> None:
        response: Any = await self._client.acompletion(
            model=MODEL,
            messages=self._messages,
            max_completion_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
        )
        _check(response.choices[0].message.content or "")

    async def stream(self) -> AsyncIterator[str]:
        chunks: Any = await self._client.acompletion(
            model=MODEL,
            messages=self._messages,
            max_completion_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
            stream=True,
        )
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content

    async def aclose(self) -> None:
        return None


class LiteLLM:
    """LiteLLM's acompletion, routed to the loopback server as an OpenAI endpoint."""

    def __init__(self, base_url: str | None) -> None:
        if base_url is None:
            raise ValueError("LiteLLM has no in-process transport seam")
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.telemetry = False
        self._litellm = litellm
        self._base = f"{base_url}/v1"
        self._messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]

    async def complete(self) -> None:
        response = await self._litellm.acompletion(
            model=f"openai/{MODEL}",
            api_base=self._base,
            api_key=API_KEY,
            messages=self._messages,
            max_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
        )
        _check(response.choices[0].message.content or "")

    async def stream(self) -> AsyncIterator[str]:
        response = await self._litellm.acompletion(
            model=f"openai/{MODEL}",
            api_base=self._base,
            api_key=API_KEY,
            messages=self._messages,
            max_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object"},
            stream=True,
        )
        async for chunk in response:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content

    async def aclose(self) -> None:
        return None


# name -> (factory, import statement for the import-time figures, needs the peer environment)
CLIENTS: dict[str, tuple[Callable[[str | None], BenchClient], str, bool]] = {
    "httpx+msgspec (floor)": (FloorOpenAI, "import httpx", False),
    "ashford bare": (
        ashford,
        "import ashford_llm, ashford_llm.providers, ashford_llm.middleware; "
        "ashford_llm.providers.OpenAIProvider",
        False,
    ),
    "ashford stack": (ashford_stack, "", False),
    "ashford stack, OTel API only": (ashford_stack_api_only, "", False),
    "ashford full stack, cache miss": (ashford_full_stack_miss, "", False),
    "ashford full stack, cache hit": (ashford_full_stack_hit, "", False),
    "ashford stack, batch spans": (ashford_stack_batch, "", False),
    "ashford bare, httpx 0.28": (ashford_httpx, "", False),
    "ashford bare, aiohttp": (ashford_aiohttp, "import httpx_aiohttp", True),
    "ashford stack, aiohttp": (ashford_aiohttp_stack, "", True),
    "openai SDK": (OpenAISDK, "import openai", True),
    "litellm": (LiteLLM, "import litellm", True),
    "httpx+msgspec anthropic (floor)": (FloorAnthropic, "", False),
    "ashford anthropic": (ashford_anthropic, "", False),
    "anthropic SDK": (AnthropicSDK, "import anthropic", True),
    "pydantic-ai": (PydanticAI, "import pydantic_ai.models.openai", True),
    "pydantic-ai anthropic": (pydantic_ai_anthropic, "", True),
    "any-llm": (AnyLLM, "import any_llm", True),
}
"""Every client; an empty import statement means the import figures skip it."""


def peers_available() -> bool:
    """Says whether the peer libraries (the benchmark environment) are installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("openai", "anthropic", "litellm", "httpx_aiohttp", "pydantic_ai", "any_llm")
    )
