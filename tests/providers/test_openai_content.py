"""OpenAI Chat Completions: content parts, reasoning and caching, on the wire and end to end.

Expected bodies are literal JSON written from OpenAI's docs and openai-python's content part
types (`chat_completion_content_part_*_param.py`), and from real recorded requests.
"""

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ashford_llm import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    DocumentPart,
    EmptyResponseError,
    ImagePart,
    InvalidRequestError,
    LLMError,
    ModelConfig,
    ReasoningConfig,
    ReasoningPart,
    StreamEnd,
    TextPart,
)
from ashford_llm.providers import OpenAIProvider
from ashford_llm.providers.openai import OpenAIDialect
from ashford_llm.providers.openai import content as openai_content
from ashford_llm.testing.fake_server import AnswerRequest, FakeProviderServer, echo
from tests.providers.real_recordings import REAL

KEY = "sk-proj-test0123456789abcdef"
CONFIG = ModelConfig("openai", "gpt-4o-mini", max_output_tokens=300)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8  # base64: iVBORw0KGgoAAAAAAAAAAA==
PDF = b"%PDF-1.4 test"  # base64: JVBERi0xLjQgdGVzdA==
OK = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def encoded(*messages: ChatMessage, **options: Any) -> Any:
    """The body the dialect writes for these messages, parsed."""
    dialect = OpenAIDialect(CONFIG, **options.pop("dialect", {}))
    request = CompletionRequest(list(messages), **options)
    return json.loads(dialect.encode(request, stream=False))


def user_content(*parts: str | Any) -> Any:
    """The content array written for one user message made of these parts."""
    return encoded(ChatMessage.user(*parts))["messages"][0]["content"]


# --- encoding: literal bodies ---------------------------------------------------------------


def test_a_text_message_keeps_the_string_content_byte_for_byte() -> None:
    dialect = OpenAIDialect(CONFIG)
    request = CompletionRequest([ChatMessage.system("Be brief."), ChatMessage.user("Hello")])
    assert dialect.encode(request, stream=False) == (
        b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},'
        b'{"role":"user","content":"Hello"}],"max_completion_tokens":300}'
    )


def test_text_parts_become_a_content_array() -> None:
    assert user_content("What is in this image?", TextPart("Answer briefly.")) == [
        {"type": "text", "text": "What is in this image?"},
        {"type": "text", "text": "Answer briefly."},
    ]


def test_an_image_url_is_sent_as_an_image_url_part() -> None:
    image = ImagePart(url="https://example.com/cat.png")
    assert user_content("Describe it", image) == [
        {"type": "text", "text": "Describe it"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]


def test_image_bytes_are_sent_as_a_base64_data_url() -> None:
    assert user_content("Describe it", ImagePart(data=PNG)) == [
        {"type": "text", "text": "Describe it"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAA=="},
        },
    ]


@pytest.mark.parametrize(
    ("name", "filename"), [(None, "document.pdf"), ("invoice.pdf", "invoice.pdf")]
)
def test_a_pdf_is_sent_as_a_file_part_with_a_filename(name: str | None, filename: str) -> None:
    assert user_content("Summarise", DocumentPart(data=PDF, name=name)) == [
        {"type": "text", "text": "Summarise"},
        {
            "type": "file",
            "file": {
                "filename": filename,
                "file_data": "data:application/pdf;base64,JVBERi0xLjQgdGVzdA==",
            },
        },
    ]


def test_a_cache_point_is_ignored_since_openai_caches_by_itself() -> None:
    body = encoded(
        ChatMessage.system("Rules.", CachePoint()),
        ChatMessage.user("Classify", CachePoint(), "this"),
    )
    assert body["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Classify"}, {"type": "text", "text": "this"}],
        },
    ]
    assert "prompt_cache_breakpoint" not in json.dumps(body)


def test_with_cache_breakpoints_a_cache_point_marks_the_part_before_it() -> None:
    body = encoded(
        ChatMessage.system("<long fixed rules>", CachePoint()),
        ChatMessage.user(
            CachePoint(), ImagePart(url="https://example.com/a.png"), CachePoint(), "Classify: hi"
        ),
        ChatMessage.assistant("Spam.", CachePoint()),
        dialect={"cache_breakpoints": True, "system_role": "developer"},
    )
    assert body["messages"] == [
        {
            "role": "developer",
            "content": [
                {
                    "type": "text",
                    "text": "<long fixed rules>",
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png"},
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                },
                {"type": "text", "text": "Classify: hi"},
            ],
        },
        {"role": "assistant", "content": "Spam."},
    ]


def test_with_cache_breakpoints_a_system_message_without_one_stays_a_string() -> None:
    body = encoded(
        ChatMessage.system("Rules", TextPart(" apply.")),
        ChatMessage.user("Hi"),
        dialect={"cache_breakpoints": True},
    )
    assert body["messages"][0] == {"role": "system", "content": "Rules apply."}


def test_cache_breakpoints_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="cache_breakpoints"):
        OpenAIProvider(CONFIG, api_key=KEY, cache_breakpoints="yes")  # type: ignore[arg-type]


def test_an_assistant_turn_sends_its_text_and_drops_its_reasoning() -> None:
    turn = ChatMessage.assistant(
        ReasoningPart("Thinking it over", signature="sig", provider="anthropic"),
        TextPart("It is "),
        TextPart("spam."),
    )
    body = encoded(ChatMessage.user("Classify"), turn, ChatMessage.user("Why?"))
    assert body["messages"][1] == {"role": "assistant", "content": "It is spam."}


def test_a_system_message_with_parts_takes_the_configured_role() -> None:
    body = encoded(
        ChatMessage.system("Rules", TextPart(" apply.")),
        ChatMessage.user("Hi"),
        dialect={"system_role": "developer"},
    )
    assert body["messages"][0] == {"role": "developer", "content": "Rules apply."}


def test_real_recorded_document_and_image_requests_are_matched_exactly() -> None:
    stem = "mirascope__python_tests_e2e_input_cassettes_test_call_with_{}_openai_gpt_4o_completions"
    paths = [
        REAL / "openai" / (stem.format(kind) + "__000.json")
        for kind in ("document_content", "image_content")
    ]
    if not all(path.is_file() for path in paths):
        pytest.skip("shared recordings not present")
    for path in paths:
        recorded = json.loads(path.read_text())["request"]["body"]["messages"]
        parts: list[Any] = []
        for part in recorded[0]["content"]:
            if part["type"] == "text":
                parts.append(part["text"])
            elif part["type"] == "file":
                data = base64.b64decode(part["file"]["file_data"].partition(",")[2])
                parts.append(DocumentPart(data=data, name=part["file"]["filename"]))
            else:
                # That client also sent OpenAI's default detail, "auto"; we send no detail.
                assert part["image_url"].pop("detail", "auto") == "auto"
                head, _, data = part["image_url"]["url"].partition(",")
                parts.append(ImagePart(data=base64.b64decode(data), media_type=head[5:-7]))
        assert encoded(ChatMessage.user(*parts))["messages"] == recorded


# --- encoding: reasoning and sampling options -----------------------------------------------


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high"])
def test_reasoning_effort_is_sent_as_reasoning_effort(effort: Any) -> None:
    body = encoded(ChatMessage.user("Hi"), reasoning=ReasoningConfig(effort=effort))
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 300,
        "reasoning_effort": effort,
    }


def test_a_reasoning_budget_has_no_chat_completions_field_and_is_not_sent() -> None:
    reasoning = ReasoningConfig(budget_tokens=2048, include_text=True)
    body = encoded(ChatMessage.user("Hi"), reasoning=reasoning, max_tokens=4000)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 4000,
    }


def test_top_p_and_seed_use_the_sdk_field_names() -> None:
    body = encoded(ChatMessage.user("Hi"), top_p=0.5, seed=7)
    assert (body["top_p"], body["seed"]) == (0.5, 7)


def test_reasoning_with_the_max_tokens_field_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="max_completion_tokens"):
        encoded(
            ChatMessage.user("Hi"),
            reasoning=ReasoningConfig(effort="low"),
            dialect={"max_tokens_field": "max_tokens"},
        )


# --- refused before anything is sent --------------------------------------------------------


async def refused(*messages: ChatMessage, **options: Any) -> InvalidRequestError:
    """Sends through the provider and checks that the transport was never called."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    provider_options = options.pop("provider", {})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = OpenAIProvider(CONFIG, api_key=KEY, http_client=client, **provider_options)
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(CompletionRequest(list(messages), **options))
        with pytest.raises(InvalidRequestError):
            async for _ in provider.stream(CompletionRequest(list(messages), **options)):
                pass
    assert seen == []
    assert caught.value.provider == "openai"
    return caught.value


async def test_a_document_url_is_refused_since_chat_completions_cannot_take_one() -> None:
    error = await refused(ChatMessage.user("Read", DocumentPart(url="https://example.com/a.pdf")))
    assert "URL" in str(error)
    assert "Responses API" in str(error)


async def test_a_document_that_is_not_a_pdf_is_refused() -> None:
    error = await refused(ChatMessage.user(DocumentPart(data=b"hi", media_type="text/plain")))
    assert "text/plain" in str(error)
    assert "PDF" in str(error)


@pytest.mark.parametrize(
    "image",
    [
        ImagePart(data=b"BM\x00\x00", media_type="image/bmp"),
        ImagePart(url="https://example.com/a.tiff", media_type="image/tiff"),
    ],
)
async def test_an_image_type_openai_does_not_take_is_refused(image: ImagePart) -> None:
    error = await refused(ChatMessage.user("Look", image))
    assert str(image.media_type) in str(error)
    assert "PNG, JPEG, WEBP" in str(error)


async def test_image_bytes_of_unknown_type_are_refused() -> None:
    error = await refused(ChatMessage.user(ImagePart(data=b"not an image")))
    assert "media_type" in str(error)


@pytest.mark.parametrize("role", ["system", "assistant"])
async def test_an_attachment_outside_a_user_message_is_refused(role: Any) -> None:
    message = ChatMessage(role, (TextPart("See"), ImagePart(data=PNG)))
    error = await refused(message, ChatMessage.user("Hi"))
    assert "user messages only" in str(error)
    assert "messages[0].content[1]" in str(error)


async def test_more_images_than_openai_takes_are_refused() -> None:
    images = [
        ImagePart(url=f"https://example.com/{i}.png") for i in range(openai_content.MAX_IMAGES + 1)
    ]
    error = await refused(ChatMessage.user("Compare", *images))
    assert str(openai_content.MAX_IMAGES) in str(error)


async def test_the_image_count_limit_is_per_request_not_per_message() -> None:
    half = openai_content.MAX_IMAGES // 2 + 1
    images = [ImagePart(url=f"https://example.com/{i}.png") for i in range(half)]
    await refused(ChatMessage.user(*images), ChatMessage.user(*images))


async def test_a_pdf_of_50_mb_is_refused() -> None:
    big = DocumentPart(data=b"%PDF-" + bytes(openai_content.MAX_FILE_BYTES))
    error = await refused(ChatMessage.user("Read", big))
    assert "50 MB" in str(error)


async def test_pdfs_over_50_mb_together_are_refused() -> None:
    half = DocumentPart(data=b"%PDF-" + bytes(openai_content.MAX_FILE_BYTES // 2))
    error = await refused(ChatMessage.user("Read", half, half))
    assert "together" in str(error)


async def test_a_payload_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_content, "MAX_PAYLOAD_BYTES", 1000)
    error = await refused(ChatMessage.user(ImagePart(data=PNG + bytes(1000))))
    assert "512 MB" in str(error)


def test_the_payload_check_passes_a_request_under_the_limit() -> None:
    body = encoded(ChatMessage.user(ImagePart(data=PNG + bytes(1000))))
    assert body["messages"][0]["content"][0]["type"] == "image_url"


async def test_reasoning_with_max_tokens_is_refused_before_sending() -> None:
    error = await refused(
        ChatMessage.user("Hi"),
        reasoning=ReasoningConfig(effort="low"),
        provider={"max_tokens_field": "max_tokens"},
    )
    assert "max_tokens" in str(error)


# --- decoding: the budget spent on reasoning ------------------------------------------------

REASONED_AWAY = {
    "id": "chatcmpl-r",
    "model": "gpt-5-mini",
    "choices": [{"index": 0, "message": {"content": ""}, "finish_reason": "length"}],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 300,
        "completion_tokens_details": {"reasoning_tokens": 300},
    },
}


def chunk(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body)}\n\n"


def reasoned_away_stream(reasoning_tokens: int) -> str:
    base = {"id": "chatcmpl-r", "model": "gpt-5-mini"}
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 300,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    return (
        chunk({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        + chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        + chunk({**base, "choices": [], "usage": usage})
        + "data: [DONE]\n\n"
    )


async def failure(handler: Callable[[httpx.Request], httpx.Response], *, stream: bool) -> LLMError:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = OpenAIProvider(CONFIG, api_key=KEY, http_client=client)
        request = CompletionRequest(
            [ChatMessage.user("Hi")], reasoning=ReasoningConfig(effort="high")
        )
        with pytest.raises(LLMError) as caught:
            if stream:
                async for _ in provider.stream(request):
                    pass
            else:
                await provider.complete(request)
    return caught.value


def sse(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


@pytest.mark.parametrize("stream", [False, True])
async def test_a_budget_spent_on_reasoning_says_so(stream: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return sse(reasoned_away_stream(300)) if stream else httpx.Response(200, json=REASONED_AWAY)

    error = await failure(handler, stream=stream)
    assert isinstance(error, EmptyResponseError)
    assert not error.retryable
    assert "300 reasoning tokens" in str(error)
    assert "raise max_tokens or lower the reasoning effort" in str(error)
    assert (error.input_tokens, error.output_tokens) == (12, 300)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_empty_length_answer_without_reasoning_keeps_the_plain_message(
    stream: bool,
) -> None:
    plain = {**REASONED_AWAY, "usage": {"prompt_tokens": 12, "completion_tokens": 0}}

    def handler(request: httpx.Request) -> httpx.Response:
        return sse(reasoned_away_stream(0)) if stream else httpx.Response(200, json=plain)

    error = await failure(handler, stream=stream)
    assert isinstance(error, EmptyResponseError)
    assert "reasoning" not in str(error)
    assert "finish reason 'length'" in str(error)


# --- the fake server, end to end ------------------------------------------------------------


def fake(
    answer: Callable[[AnswerRequest], str] = echo,
) -> tuple[FakeProviderServer, list[AnswerRequest]]:
    """A fake server that keeps the neutral view of every request it answered."""
    seen: list[AnswerRequest] = []

    def keep(request: AnswerRequest) -> str:
        seen.append(request)
        return answer(request)

    return FakeProviderServer(answer=keep), seen


async def run(
    server: FakeProviderServer, *requests: CompletionRequest, stream: bool = False
) -> list[Any]:
    answers = []
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = OpenAIProvider(
            CONFIG, api_key="test-key", base_url=server.base_url("openai"), http_client=client
        )
        for request in requests:
            if stream:
                events = [event async for event in provider.stream(request)]
                assert isinstance(events[-1], StreamEnd)
                answers.append(events[-1].response)
            else:
                answers.append(await provider.complete(request))
    return answers


@pytest.mark.parametrize("stream", [False, True])
async def test_an_image_and_a_pdf_reach_the_fake_server(stream: bool) -> None:
    server, seen = fake()
    message = ChatMessage.user(
        "What is attached?",
        ImagePart(data=PNG),
        ImagePart(url="https://example.com/photo.jpg"),
        DocumentPart(data=PDF, name="invoice.pdf"),
    )
    [response] = await run(server, CompletionRequest([message]), stream=stream)
    assert seen[0].attachments == ("image/png", "image/jpeg", "application/pdf")
    assert seen[0].messages == (("user", "What is attached?"),)
    assert response.content == "What is attached?"
    assert response.input_tokens == 3 + 3 * 100  # three words, three attachments


@pytest.mark.parametrize("stream", [False, True])
async def test_a_repeated_prefix_is_read_from_the_cache(stream: bool) -> None:
    server, seen = fake()
    rules = ChatMessage.system("Classify e-mails as spam or not spam.")
    first = CompletionRequest([rules, ChatMessage.user("Win a prize")])
    second = CompletionRequest([rules, ChatMessage.user("Meeting at noon")])
    written, read = await run(server, first, second, stream=stream)
    assert seen[1].cache_prefix == "Classify e-mails as spam or not spam."
    assert (written.cached_input_tokens, written.cache_write_tokens) == (0, 7)
    assert (read.cached_input_tokens, read.cache_write_tokens) == (7, None)
    assert read.input_tokens == 7 + 3


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_effort_is_reported_as_reasoning_tokens_without_text(stream: bool) -> None:
    server, seen = fake()
    thinking = CompletionRequest(
        [ChatMessage.user("Hi there")], reasoning=ReasoningConfig(effort="low", include_text=True)
    )
    plain = CompletionRequest(
        [ChatMessage.user("Hi there")], reasoning=ReasoningConfig(effort="none")
    )
    reasoned, unreasoned = await run(server, thinking, plain, stream=stream)
    assert [request.reasoning for request in seen] == [True, False]
    assert reasoned.reasoning_tokens == 6  # "The request asks about: Hi there"
    assert reasoned.output_tokens == 2 + 6
    assert reasoned.reasoning_text is None
    assert unreasoned.reasoning_tokens == 0


def part_request(part: Any) -> dict[str, Any]:
    return {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Look"}, part]}],
    }


def openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


BAD_PARTS = [
    (
        {"type": "image", "source": {"data": "iVBORw0KGgo="}},
        openai_error(
            "Invalid value: 'image'. Supported values are: 'text', 'image_url', 'input_audio', "
            "'refusal', 'audio', and 'file'.",
            "messages[0].content[1].type",
            "invalid_value",
        ),
    ),
    (
        {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
        openai_error(
            "Invalid type for 'messages[0].content[1].image_url': expected an object, but got a "
            "string instead.",
            "messages[0].content[1].image_url",
            "invalid_type",
        ),
    ),
    (
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}},
        openai_error(
            "You uploaded an unsupported image. Please make sure your image is valid.",
            None,
            "image_parse_error",
        ),
    ),
    (
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0AAA=="}},
        openai_error(
            "You uploaded an unsupported image. Please make sure your image has of one the "
            "following formats: ['png', 'jpeg', 'gif', 'webp'].",
            None,
            "invalid_image_format",
        ),
    ),
    (
        {"type": "file", "file": {"filename": "a.txt", "file_data": "data:text/plain;base64,aGk="}},
        openai_error(
            "Invalid file data: 'messages[0].content[1].file.file_data'. Expected a "
            "base64-encoded data URL with an application/pdf MIME type (e.g. "
            "'data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ=='), but got unsupported MIME type "
            "'text/plain'.",
            "messages[0].content[1].file.file_data",
            "invalid_value",
        ),
    ),
    (
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "JVBERi0="}},
        openai_error(
            "Invalid file data: 'messages[0].content[1].file.file_data'. Expected a "
            "base64-encoded data URL with an application/pdf MIME type (e.g. "
            "'data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ=='), but got a value without the "
            "'data:' prefix.",
            "messages[0].content[1].file.file_data",
            "invalid_value",
        ),
    ),
]


@pytest.mark.parametrize(("part", "expected"), BAD_PARTS)
async def test_the_fake_server_answers_a_malformed_part_with_openais_400(
    part: dict[str, Any], expected: dict[str, Any]
) -> None:
    server, seen = fake()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        response = await client.post(
            server.base_url("openai") + "/chat/completions",
            json=part_request(part),
            headers={"authorization": "Bearer test-key"},
        )
    assert response.status_code == 400
    assert response.json() == expected
    assert seen == []


async def test_the_provider_reads_the_fake_servers_part_error_as_invalid_request() -> None:
    server, _ = fake()
    bad = {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0AAA=="}}
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = OpenAIProvider(
            CONFIG, api_key="test-key", base_url=server.base_url("openai"), http_client=client
        )
        request = CompletionRequest(
            [ChatMessage.user("Look")],
            vendor_options={"messages": [part_request(bad)["messages"][0]]},
        )
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(request)
    assert caught.value.status == 400
    assert caught.value.error_code == "invalid_image_format"


async def test_the_fake_server_accepts_an_uploaded_file_id_and_an_image_url() -> None:
    server, seen = fake()
    parts = [
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/pic"}},
    ]
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Look"}, *parts]}],
    }
    async with httpx.AsyncClient(transport=server.transport()) as client:
        response = await client.post(
            server.base_url("openai") + "/chat/completions",
            json=body,
            headers={"authorization": "Bearer test-key"},
        )
    assert response.status_code == 200
    assert seen[0].attachments == ("application/pdf", "image/*")
