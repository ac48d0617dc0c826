"""Anthropic parts, thinking and cache points: bodies compared with the docs' literal bodies."""

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from ashford_llm import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    DocumentPart,
    ImagePart,
    ModelConfig,
    ReasoningConfig,
    ReasoningPart,
    TextPart,
)
from ashford_llm.errors import InvalidRequestError
from ashford_llm.providers import AnthropicProvider
from ashford_llm.providers.anthropic import AnthropicDialect
from ashford_llm.providers.anthropic.content import MAX_IMAGE_BASE64
from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server.answers import (
    ATTACHMENT_TOKENS,
    AnswerRequest,
    canned,
    count_tokens,
)

URL = "https://api.anthropic.com/v1/messages"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 16
PDF = b"%PDF-1.7\n%fake\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body_of(
    *messages: ChatMessage,
    model: str = "claude-sonnet-4-6",
    max_output_tokens: int = 1024,
    config_temperature: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    config = ModelConfig(
        "anthropic", model, max_output_tokens=max_output_tokens, temperature=config_temperature
    )
    dialect = AnthropicDialect(config)
    body: dict[str, Any] = json.loads(
        dialect.encode(CompletionRequest(list(messages), **options), stream=False)
    )
    return body


def fake_provider(
    server: FakeProviderServer,
    client: httpx.AsyncClient,
    *,
    model: str = "claude-sonnet-4-6",
    max_tokens: int = 1024,
) -> AnthropicProvider:
    return AnthropicProvider(
        ModelConfig("anthropic", model, max_output_tokens=max_tokens),
        api_key="test-key",
        base_url=server.base_url("anthropic"),
        http_client=client,
    )


def refused(*messages: ChatMessage, model: str = "claude-sonnet-4-6", **options: Any) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        body_of(*messages, model=model, **options)
    return str(caught.value)


# --- text stays a string -------------------------------------------------------------------


def test_text_only_messages_encode_to_the_same_bytes_as_before() -> None:
    dialect = AnthropicDialect(ModelConfig("anthropic", "claude-sonnet-4-6", max_output_tokens=9))
    request = CompletionRequest([ChatMessage.system("Rules"), ChatMessage.user("Hi")])
    assert dialect.encode(request, stream=False) == (
        b'{"model":"claude-sonnet-4-6","max_tokens":9,'
        b'"messages":[{"role":"user","content":"Hi"}],"system":"Rules"}'
    )


def test_text_messages_next_to_parts_stay_strings_and_same_roles_still_merge() -> None:
    body = body_of(
        ChatMessage.system("Rules"),
        ChatMessage.user("First"),
        ChatMessage.user("Look", ImagePart(url="https://example.test/a.png")),
        ChatMessage.assistant("A cat."),
    )
    assert body["system"] == "Rules"
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "First"},
                {"type": "text", "text": "Look"},
                {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}},
            ],
        },
        {"role": "assistant", "content": "A cat."},
    ]


# --- images and documents (bodies from Anthropic's vision and PDF support pages) ------------


def test_a_base64_image_is_the_documented_image_block() -> None:
    body = body_of(
        ChatMessage.user(ImagePart(data=JPEG), "Describe this image."),
        model="claude-opus-4-7",
    )
    assert body == {
        "model": "claude-opus-4-7",
        "max_tokens": 1024,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)},
                    },
                    {"type": "text", "text": "Describe this image."},
                ],
            }
        ],
    }


def test_an_image_url_is_a_url_source() -> None:
    url = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"
    body = body_of(ChatMessage.user(ImagePart(url=url), "Describe this image."))
    assert body["messages"][0]["content"][0] == {
        "type": "image",
        "source": {"type": "url", "url": url},
    }


def test_a_pdf_is_a_document_block_titled_by_its_name() -> None:
    body = body_of(
        ChatMessage.user(
            DocumentPart(data=PDF, name="report.pdf"),
            "What are the key findings in this document?",
        )
    )
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)},
            "title": "report.pdf",
        },
        {"type": "text", "text": "What are the key findings in this document?"},
    ]


def test_a_pdf_url_and_a_plain_text_document() -> None:
    url = "https://assets.anthropic.com/m/1cd9d098ac3e6467/original/Claude-3-Model-Card.pdf"
    text = DocumentPart(
        data=b"The grass is green. The sky is blue.", media_type="text/plain", name="My Document"
    )
    body = body_of(ChatMessage.user(DocumentPart(url=url), text, "Summarise."))
    assert body["messages"][0]["content"][:2] == [
        {"type": "document", "source": {"type": "url", "url": url}},
        {
            "type": "document",
            "source": {
                "type": "text",
                "media_type": "text/plain",
                "data": "The grass is green. The sky is blue.",
            },
            "title": "My Document",
        },
    ]


@pytest.mark.parametrize(
    ("part", "words"),
    [
        (ImagePart(data=b"BM\x00\x00", media_type="image/bmp"), "image/bmp"),
        (ImagePart(url="https://example.test/a.svg", media_type="image/svg+xml"), "svg"),
        (ImagePart(data=b"not an image"), "could not be told"),
        (DocumentPart(data=b"PK\x03\x04", media_type="application/msword"), "msword"),
        (DocumentPart(url="https://example.test/a.txt", media_type="text/plain"), "by URL"),
        (DocumentPart(data=b"\xff\xfe", media_type="text/plain"), "UTF-8"),
    ],
    ids=["bmp", "svg-url", "unknown-bytes", "msword", "text-url", "text-not-utf8"],
)
def test_media_types_anthropic_refuses_are_invalid_requests(part: Any, words: str) -> None:
    assert words in refused(ChatMessage.user("Look", part))


def test_an_image_over_5_mb_of_base64_is_refused_and_one_at_the_limit_is_not() -> None:
    at_limit = b"\xff\xd8\xff" + b"\x00" * (MAX_IMAGE_BASE64 * 3 // 4 - 3)
    body = body_of(ChatMessage.user(ImagePart(data=at_limit)))
    assert len(body["messages"][0]["content"][0]["source"]["data"]) == MAX_IMAGE_BASE64
    message = refused(ChatMessage.user(ImagePart(data=at_limit + b"\x00")))
    assert "5 MB limit per image" in message


def test_at_most_100_images_per_request() -> None:
    images = [ImagePart(data=PNG)] * 100
    assert len(body_of(ChatMessage.user(*images))["messages"][0]["content"]) == 100
    assert "at most 100 images" in refused(ChatMessage.user(*images), ChatMessage.user(images[0]))


def test_a_request_over_32_mb_is_refused() -> None:
    big = DocumentPart(data=b"%PDF-" + b"\x00" * 24_000_000)
    assert "32 MB limit" in refused(ChatMessage.user(big))


def test_images_and_documents_belong_in_user_messages() -> None:
    assert "user messages only" in refused(
        ChatMessage.user("Hi"), ChatMessage.assistant(ImagePart(data=PNG))
    )
    assert "user messages only" in refused(
        ChatMessage.system(DocumentPart(data=PDF)), ChatMessage.user("Hi")
    )


async def test_a_refused_part_is_raised_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).respond(200, json={})
        provider = AnthropicProvider(ModelConfig("anthropic", "claude-sonnet-4-6"), api_key="k")
        request = CompletionRequest(
            [ChatMessage.user(ImagePart(data=b"BM\x00\x00", media_type="image/bmp"))]
        )
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(request)
        with pytest.raises(InvalidRequestError):
            async for _ in provider.stream(request):
                pass
        assert route.call_count == 0
    assert caught.value.provider == "anthropic"


# --- cache points (bodies from Anthropic's prompt caching page) -----------------------------


def test_a_cache_point_in_the_system_prompt_makes_system_a_list_of_blocks() -> None:
    rules = (
        "You are an AI assistant tasked with analyzing literary works. Your goal is to provide "
        "insightful commentary on themes, characters, and writing style.\n"
    )
    body = body_of(
        ChatMessage.system(rules, "<the entire contents of Pride and Prejudice>", CachePoint()),
        ChatMessage.user("Analyze the major themes in Pride and Prejudice."),
        model="claude-opus-4-7",
    )
    assert body == {
        "model": "claude-opus-4-7",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": rules},
            {
                "type": "text",
                "text": "<the entire contents of Pride and Prejudice>",
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "messages": [
            {"role": "user", "content": "Analyze the major themes in Pride and Prejudice."}
        ],
    }


def test_the_json_instruction_follows_a_cached_system_prompt_as_its_own_block() -> None:
    body = body_of(
        ChatMessage.system("Rules", CachePoint()),
        ChatMessage.system("More rules"),
        ChatMessage.user("x"),
        json_mode=True,
    )
    assert [block["text"] for block in body["system"]][:2] == ["Rules", "More rules"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "single valid JSON object" in body["system"][2]["text"]
    assert all("cache_control" not in block for block in body["system"][1:])


def test_a_cache_point_marks_the_block_before_it_even_in_an_earlier_turn() -> None:
    body = body_of(
        ChatMessage.user("Long shared context"),
        ChatMessage.assistant("Understood."),
        ChatMessage.user(CachePoint(), "Question one"),
        ChatMessage.user(ImagePart(data=PNG), CachePoint()),
    )
    assert body["messages"] == [
        {"role": "user", "content": "Long shared context"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Understood.", "cache_control": {"type": "ephemeral"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Question one"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]


def test_four_cache_points_pass_and_a_fifth_is_refused() -> None:
    four = [ChatMessage.user(f"part {i}", CachePoint()) for i in range(4)]
    body = body_of(*four)
    marks = [b for b in body["messages"][0]["content"] if "cache_control" in b]
    assert len(marks) == 4
    message = refused(*four, ChatMessage.user("part 4", CachePoint()))
    assert "at most 4 cache breakpoints" in message
    assert "got 5" in message


def test_a_cache_point_with_nothing_before_it_is_refused() -> None:
    assert "nothing comes before" in refused(ChatMessage.user(CachePoint(), "Hi"))
    assert "nothing comes before" in refused(
        ChatMessage.system(CachePoint(), "Rules"), ChatMessage.user("Hi")
    )


def test_a_cache_point_after_thinking_is_refused() -> None:
    thought = ReasoningPart("hmm", signature="sig", provider="anthropic")
    message = refused(ChatMessage.user("Hi"), ChatMessage.assistant(thought, CachePoint(), "Hello"))
    assert "thinking blocks" in message


# --- thinking sent back -------------------------------------------------------------------


@respx.mock
async def test_thinking_comes_back_as_the_same_blocks_with_their_signatures() -> None:
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Let me add.", "signature": "EqQBCgIYAh"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
            {"type": "text", "text": "4"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }
    route = respx.post(URL).respond(200, json=answer)
    config = ModelConfig("anthropic", "claude-sonnet-4-5", max_output_tokens=4096)
    provider = AnthropicProvider(config, api_key="k")
    thinking = ReasoningConfig(budget_tokens=2048, include_text=True)
    first = await provider.complete(
        CompletionRequest([ChatMessage.user("2+2?")], reasoning=thinking)
    )
    assert first.parts == (
        ReasoningPart("Let me add.", signature="EqQBCgIYAh", provider="anthropic"),
        ReasoningPart("", signature="EmwKAhgBEgy3", provider="anthropic", redacted=True),
        TextPart("4"),
    )
    assert first.reasoning_text == "Let me add."
    history = [
        ChatMessage.user("2+2?"),
        ChatMessage.assistant(*first.parts),
        ChatMessage.user("And 3+3?"),
    ]
    await provider.complete(CompletionRequest(history, reasoning=thinking))
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me add.", "signature": "EqQBCgIYAh"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
            {"type": "text", "text": "4"},
        ],
    }


def test_another_vendors_reasoning_is_left_out() -> None:
    foreign = ReasoningPart("thought", signature="gAAAA", provider="openai")
    body = body_of(ChatMessage.user("Hi"), ChatMessage.assistant(foreign, "Hello"))
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello"}],
    }


def test_own_reasoning_without_a_signature_is_refused() -> None:
    unsigned = ReasoningPart("thought", provider="anthropic")
    assert "signature" in refused(ChatMessage.user("Hi"), ChatMessage.assistant(unsigned, "Hi"))


# --- thinking settings (bodies from Anthropic's extended and adaptive thinking pages) -------


def test_a_budget_is_manual_thinking_as_documented() -> None:
    body = body_of(
        ChatMessage.user("Are there an infinite number of prime numbers such that n mod 4 == 3?"),
        model="claude-sonnet-4-5",
        max_output_tokens=16000,
        reasoning=ReasoningConfig(budget_tokens=10000, include_text=True),
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16000,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [
            {
                "role": "user",
                "content": "Are there an infinite number of prime numbers such that n mod 4 == 3?",
            }
        ],
    }


def test_an_effort_is_adaptive_thinking_with_output_config_effort_as_documented() -> None:
    body = body_of(
        ChatMessage.user("Explain why the sum of two even numbers is always even."),
        model="claude-opus-4-6",
        max_output_tokens=16000,
        reasoning=ReasoningConfig(effort="medium", include_text=True),
    )
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


@pytest.mark.parametrize(
    ("model", "reasoning", "thinking", "effort"),
    [
        # Opus 4.7 on: display is omitted unless asked for (as in the real recordings).
        ("claude-opus-4-7", ReasoningConfig(effort="high", include_text=True),
         {"type": "adaptive", "display": "summarized"}, "high"),
        ("claude-opus-5", ReasoningConfig(effort="low"), {"type": "adaptive"}, "low"),
        ("claude-opus-5", ReasoningConfig(effort="minimal"), {"type": "adaptive"}, "low"),
        ("claude-sonnet-4-6", ReasoningConfig(effort="high"),
         {"type": "adaptive", "display": "omitted"}, "high"),
        ("claude-sonnet-4-6", ReasoningConfig(include_text=True), {"type": "adaptive"}, None),
        # Models without adaptive thinking get a budget per effort.
        ("claude-sonnet-4-5", ReasoningConfig(effort="medium", include_text=True),
         {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-haiku-4-5", ReasoningConfig(effort="minimal"),
         {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}, None),
        ("claude-3-7-sonnet-latest", ReasoningConfig(include_text=True),
         {"type": "enabled", "budget_tokens": 1024}, None),
        ("claude-opus-4-5", ReasoningConfig(effort="high", include_text=True),
         {"type": "enabled", "budget_tokens": 4096}, "high"),
        # Off.
        ("claude-opus-5", ReasoningConfig(effort="none"), {"type": "disabled"}, None),
        ("claude-sonnet-4-5", ReasoningConfig(budget_tokens=0), {"type": "disabled"}, None),
    ],
)  # fmt: skip
def test_reasoning_settings_per_model_family(
    model: str, reasoning: ReasoningConfig, thinking: dict[str, Any], effort: str | None
) -> None:
    body = body_of(ChatMessage.user("x"), model=model, max_output_tokens=8000, reasoning=reasoning)
    assert body["thinking"] == thinking
    assert body.get("output_config", {}).get("effort") == effort


def test_no_reasoning_settings_send_no_thinking() -> None:
    body = body_of(ChatMessage.user("x"), reasoning=ReasoningConfig())
    assert "thinking" not in body
    assert "output_config" not in body


def test_effort_merges_with_the_json_schema_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = body_of(
        ChatMessage.user("x"),
        model="claude-opus-4-7",
        json_schema=schema,
        reasoning=ReasoningConfig(effort="low"),
    )
    assert body["output_config"] == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": {**schema, "additionalProperties": False}},
    }


@pytest.mark.parametrize(
    ("model", "reasoning", "max_tokens", "words"),
    [
        ("claude-sonnet-4-5", ReasoningConfig(budget_tokens=1000), 4000, "at least 1024"),
        ("claude-sonnet-4-5", ReasoningConfig(budget_tokens=4000), 4000, "above 4000, got 4000"),
        ("claude-opus-4-7", ReasoningConfig(budget_tokens=2048), 4000, "takes no thinking budget"),
        ("claude-sonnet-4-5", ReasoningConfig(effort="high"), 300, "effort 'high'"),
    ],
)
def test_impossible_budgets_are_refused(
    model: str, reasoning: ReasoningConfig, max_tokens: int, words: str
) -> None:
    message = refused(
        ChatMessage.user("x"), model=model, max_output_tokens=max_tokens, reasoning=reasoning
    )
    assert words in message


def test_with_thinking_on_a_config_temperature_is_left_out() -> None:
    body = body_of(
        ChatMessage.user("x"), config_temperature=0.2, reasoning=ReasoningConfig(effort="low")
    )
    assert "temperature" not in body
    body = body_of(
        ChatMessage.user("x"), config_temperature=0.2, reasoning=ReasoningConfig(effort="none")
    )
    assert body["temperature"] == 0.2


def test_with_thinking_on_a_request_temperature_other_than_1_or_low_top_p_is_refused() -> None:
    low = ReasoningConfig(effort="low")
    assert "temperature other than 1" in refused(
        ChatMessage.user("x"), temperature=0.0, reasoning=low
    )
    assert "top_p from 0.95" in refused(ChatMessage.user("x"), top_p=0.5, reasoning=low)
    body = body_of(ChatMessage.user("x"), temperature=1.0, top_p=0.97, reasoning=low)
    assert "temperature" not in body
    assert body["top_p"] == 0.97


# --- streams -----------------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def start(usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {"id": "msg_s", "model": "claude-sonnet-4-5", "content": [],
                    "usage": usage or {"input_tokens": 5, "output_tokens": 1}},
    }  # fmt: skip


def finish(stop_reason: str, output_tokens: int) -> list[dict[str, Any]]:
    return [
        {"type": "message_delta", "delta": {"stop_reason": stop_reason},
         "usage": {"output_tokens": output_tokens}},
        {"type": "message_stop"},
    ]  # fmt: skip


def delta(index: int, **fields: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def block(index: int, **fields: str) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": fields}


async def stream_of(body: bytes) -> list[Any]:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = AnthropicProvider(
            ModelConfig("anthropic", "claude-sonnet-4-5"), api_key="k", http_client=client
        )
        return [
            event async for event in provider.stream(CompletionRequest([ChatMessage.user("x")]))
        ]


async def test_a_stream_rebuilds_thinking_redacted_and_text_parts_in_block_order() -> None:
    events = await stream_of(
        sse(
            start(),
            block(0, type="thinking", thinking="", signature=""),
            delta(0, type="thinking_delta", thinking="First "),
            delta(0, type="thinking_delta", thinking="thought."),
            delta(0, type="signature_delta", signature="SIG1"),
            {"type": "content_block_stop", "index": 0},
            block(1, type="redacted_thinking", data="REDACTED"),
            block(2, type="text", text=""),
            delta(2, type="text_delta", text="Hello"),
            block(3, type="thinking", thinking="", signature=""),
            delta(3, type="thinking_delta", thinking="Again."),
            delta(3, type="signature_delta", signature="SIG2"),
            block(4, type="text", text=""),
            delta(4, type="text_delta", text=" world"),
            *finish("end_turn", 30),
        )
    )
    kinds = [(type(e).__name__, getattr(e, "text", None)) for e in events[:-1]]
    assert kinds == [
        ("ReasoningDelta", "First "),
        ("ReasoningDelta", "thought."),
        ("TextDelta", "Hello"),
        ("ReasoningDelta", "Again."),
        ("TextDelta", " world"),
    ]
    response = events[-1].response
    assert response.parts == (
        ReasoningPart("First thought.", signature="SIG1", provider="anthropic"),
        ReasoningPart("", signature="REDACTED", provider="anthropic", redacted=True),
        TextPart("Hello"),
        ReasoningPart("Again.", signature="SIG2", provider="anthropic"),
        TextPart(" world"),
    )
    assert response.content == "Hello world"
    assert response.reasoning_text == "First thought.Again."


async def test_a_stream_with_only_redacted_thinking_has_no_reasoning_text() -> None:
    events = await stream_of(
        sse(
            start(),
            block(0, type="redacted_thinking", data="R"),
            block(1, type="text", text=""),
            delta(1, type="text_delta", text="Hi"),
            *finish("end_turn", 3),
        )
    )
    response = events[-1].response
    assert response.reasoning_text is None
    assert response.parts[0] == ReasoningPart(
        "", signature="R", provider="anthropic", redacted=True
    )


async def test_a_stream_that_spent_the_budget_on_thinking_says_so() -> None:
    from ashford_llm.errors import EmptyResponseError

    body = sse(
        start(),
        block(0, type="thinking", thinking="", signature=""),
        delta(0, type="thinking_delta", thinking="Long thought"),
        *finish("max_tokens", 300),
    )
    with pytest.raises(EmptyResponseError, match="whole output budget") as caught:
        await stream_of(body)
    assert caught.value.retryable is False


async def test_stream_usage_keeps_cache_reads_and_writes() -> None:
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 60}
    events = await stream_of(
        sse(start(usage), block(0, type="text", text=""), delta(0, type="text_delta", text="ok"),
            *finish("end_turn", 2))
    )  # fmt: skip
    response = events[-1].response
    assert (response.input_tokens, response.cached_input_tokens, response.cache_write_tokens) == (
        105,
        60,
        40,
    )


# --- against the fake server ---------------------------------------------------------------


def attachments_answer(request: AnswerRequest) -> str:
    return " ".join(request.attachments) or "none"


async def test_the_fake_server_reads_an_image_and_a_pdf_sent_by_the_provider() -> None:
    server = FakeProviderServer(answer=attachments_answer)
    request = CompletionRequest(
        [ChatMessage.user("Classify this", ImagePart(data=PNG), DocumentPart(data=PDF))]
    )
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(server, client)
        response = await provider.complete(request)
        events = [event async for event in provider.stream(request)]
    assert response.content == "image/png application/pdf"
    assert response.input_tokens == 2 + 2 * ATTACHMENT_TOKENS
    assert events[-1].response.content == response.content


async def test_the_fake_server_reports_a_cache_write_then_reads_on_a_repeated_prefix() -> None:
    server = FakeProviderServer(answer=canned("ok"))
    rules = "Label the e-mail as billing, support, sales or spam. " * 5
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(server, client)
        responses = [
            await provider.complete(
                CompletionRequest(
                    [ChatMessage.system(rules, CachePoint()), ChatMessage.user(f"Mail {n}")]
                )
            )
            for n in range(2)
        ]
    cached = count_tokens(rules)
    assert [(r.cache_write_tokens, r.cached_input_tokens) for r in responses] == [
        (cached, 0),
        (0, cached),
    ]
    assert {r.input_tokens for r in responses} == {cached + 2}


async def test_the_fake_server_thinks_aloud_and_takes_its_thinking_back() -> None:
    server = FakeProviderServer(answer=canned("Paris"))
    thinking = ReasoningConfig(effort="low", include_text=True)
    request = CompletionRequest([ChatMessage.user("Capital of France?")], reasoning=thinking)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(server, client, model="claude-sonnet-4-5", max_tokens=2048)
        response = await provider.complete(request)
        events = [event async for event in provider.stream(request)]
        follow_up = CompletionRequest(
            [
                *request.messages,
                ChatMessage.assistant(*response.parts),
                ChatMessage.user("And of Spain?"),
            ],
            reasoning=thinking,
        )
        again = await provider.complete(follow_up)
    assert response.reasoning_text == "The request asks about: Capital of France?"
    assert isinstance(response.parts[0], ReasoningPart)
    assert response.parts[0].signature
    assert response.parts[1:] == (TextPart("Paris"),)
    assert response.reasoning_tokens == 7
    assert response.output_tokens == 8
    thoughts = "".join(e.text for e in events if type(e).__name__ == "ReasoningDelta")
    assert thoughts == response.reasoning_text
    assert events[-1].response.parts == response.parts
    assert again.content == "Paris"


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (
            [{"type": "text", "text": "Hi"},
             {"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                                          "data": "Qk0="}}],
            {},
            "messages.0.content.1.image.source.base64.media_type: Input should be "
            "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
        ),
        (
            [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                          "data": "A" * (MAX_IMAGE_BASE64 + 4)}}],
            {},
            "messages.0.content.0.image.source.base64: image exceeds 5 MB maximum: "
            f"{MAX_IMAGE_BASE64 + 4} bytes > {MAX_IMAGE_BASE64} bytes",
        ),
        (
            [{"type": "document", "source": {"type": "base64", "media_type": "text/html",
                                             "data": "PGI+"}}],
            {},
            "messages.0.content.0.document.source.base64.media_type: Input should be "
            "'application/pdf'",
        ),
        (
            [{"type": "text", "text": str(n), "cache_control": {"type": "ephemeral"}}
             for n in range(5)],
            {},
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            [{"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}],
            {},
            "messages.0.content.0: Input tag 'image_url' found using 'type' does not match",
        ),
        (
            "Hi",
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            "Hi",
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
        (
            "Hi",
            {"thinking": {"type": "adaptive"}, "temperature": 0},
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.",
        ),
    ],
    ids=["media-type", "image-size", "document-type", "five-breakpoints", "unknown-tag",
         "small-budget", "budget-over-max", "temperature"],
)  # fmt: skip
async def test_the_fake_server_refuses_bad_blocks_with_anthropics_400(
    content: Any, extra: dict[str, Any], message: str
) -> None:
    server = FakeProviderServer()
    body = {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(
        transport=server.transport(), base_url=server.base_url("anthropic")
    ) as client:
        response = await client.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)


async def test_the_fake_server_sends_no_thinking_text_when_it_is_omitted() -> None:
    server = FakeProviderServer(answer=canned("Paris"))
    request = CompletionRequest(
        [ChatMessage.user("Capital?")], reasoning=ReasoningConfig(effort="low")
    )
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider(server, client, model="claude-sonnet-4-5", max_tokens=2048)
        response = await provider.complete(request)
    assert response.parts == (TextPart("Paris"),)
    assert response.reasoning_text is None
