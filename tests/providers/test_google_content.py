"""Gemini parts, reasoning and caching: request bodies, answers, limits and the fake server."""

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    ModelConfig,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
)
from ashford_llm.errors import EmptyResponseError, InvalidRequestError
from ashford_llm.providers import GoogleProvider
from ashford_llm.providers.google import content, dialect
from ashford_llm.testing import AnswerRequest, FakeProviderServer
from ashford_llm.types import (
    CachePoint,
    DocumentPart,
    ImagePart,
    ReasoningConfig,
    ReasoningPart,
    TextPart,
)
from tests.providers.real_recordings import REAL

BASE = "https://generativelanguage.googleapis.com/v1beta/models"
URL = f"{BASE}/gemini-2.5-flash:generateContent"
STREAM_URL = f"{BASE}/gemini-2.5-flash:streamGenerateContent"
KEY = "AIzaSyTestKey0123456789abcdefghijklmnop"
CONFIG = ModelConfig("google", "gemini-2.5-flash", max_output_tokens=300)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n%%EOF\n"
GEMINI_3_THINKING = "test_strict_mode_with_thinking_google_gemini_3_pro_preview__000.json"
GEMINI_3_STREAM = "test_strict_mode_with_streamed_thinking_google_gemini_3_pro_preview__000.json"


def provider(model: str = "gemini-2.5-flash", **options: Any) -> GoogleProvider:
    config = ModelConfig("google", model, max_output_tokens=300)
    return GoogleProvider(config, api_key=KEY, **options)


def encode(request: CompletionRequest, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    config = ModelConfig("google", model, max_output_tokens=300)
    body: dict[str, Any] = json.loads(dialect.GoogleDialect(config).encode(request, stream=False))
    return body


def user(*content: Any) -> CompletionRequest:
    return CompletionRequest([ChatMessage.user(*content)])


def recording(name: str) -> dict[str, Any]:
    path = next((REAL / "google").glob(f"*{name}"), None)
    if path is None:
        pytest.skip("shared recordings not present")
    loaded: dict[str, Any] = json.loads(Path(path).read_text())
    return loaded


def answer(*parts: dict[str, Any], finish: str = "STOP", **usage: int) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, **usage},
        "modelVersion": "gemini-2.5-flash",
    }


def sse(*chunks: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()


# --- parts in requests -------------------------------------------------------------------


def test_text_content_is_encoded_byte_for_byte_as_before() -> None:
    body = dialect.GoogleDialect(CONFIG).encode(user("Hello"), stream=False)
    assert body == (
        b'{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],'
        b'"generationConfig":{"maxOutputTokens":300}}'
    )
    as_parts = CompletionRequest([ChatMessage("user", (TextPart("Hello"),))])
    assert dialect.GoogleDialect(CONFIG).encode(as_parts, stream=False) == body


@pytest.mark.parametrize(
    ("name", "part_type"),
    [
        ("image_google_encodes-base64-image__000.json", ImagePart),
        ("document_google_encodes-base64-document__000.json", DocumentPart),
    ],
)
def test_inline_media_matches_the_recorded_request_body(name: str, part_type: type) -> None:
    recorded = recording(name)["request"]["body"]
    text, media = recorded["contents"][0]["parts"]
    blob = media["inlineData"]
    part = part_type(data=base64.b64decode(blob["data"]), media_type=blob["mimeType"])
    body = encode(user(text["text"], part))
    assert body["contents"] == recorded["contents"]


def test_url_parts_are_file_data_with_their_media_type() -> None:
    body = encode(
        user(
            ImagePart(url="https://example.com/cat.webp", media_type="image/webp"),
            DocumentPart(url="https://example.com/report.pdf"),
            "Compare them",
        )
    )
    assert body["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/report.pdf"}},
        {"text": "Compare them"},
    ]


def test_a_plain_text_document_is_sent_inline_as_text_plain() -> None:
    body = encode(user(DocumentPart(data=b"hello", media_type="text/plain"), "Summarise"))
    assert body["contents"][0]["parts"][0] == {
        "inlineData": {"mimeType": "text/plain", "data": base64.b64encode(b"hello").decode()}
    }


def test_cache_points_are_left_out() -> None:
    with_point = encode(user("Long rules", CachePoint(), "Classify this"))
    without = encode(user("Long rules", "Classify this"))
    assert with_point == without
    assert with_point["contents"][0]["parts"] == [{"text": "Long rules"}, {"text": "Classify this"}]


@pytest.mark.parametrize(
    ("part", "words"),
    [
        (ImagePart(url="https://example.com/cat"), "give media_type"),
        (ImagePart(data=PNG, media_type="image/gif"), "'image/gif'"),
        (ImagePart(data=b"not an image"), "give media_type"),
        (DocumentPart(data=b"PK\x03\x04", media_type="application/zip"), "'application/zip'"),
        (DocumentPart(url="https://example.com/a.docx", media_type="application/msword"), "msword"),
    ],
)
@respx.mock
async def test_media_gemini_refuses_is_an_invalid_request_before_sending(
    part: Any, words: str
) -> None:
    route = respx.post(URL)
    with pytest.raises(InvalidRequestError, match=words):
        await provider().complete(user("Describe", part))
    assert not route.called


@respx.mock
async def test_a_pdf_over_50_mb_inline_is_refused_naming_the_limit() -> None:
    route = respx.post(URL)
    big = DocumentPart(data=b"%PDF-" + bytes(content.PDF_INLINE_LIMIT))
    with pytest.raises(InvalidRequestError, match="PDFs of at most 50 MB inline"):
        await provider().complete(user("Summarise", big))
    assert not route.called


@respx.mock
async def test_more_than_100_mb_of_inline_data_is_refused_naming_the_limit() -> None:
    route = respx.post(URL)
    # 3 x 30 MiB of images is 120 MiB of base64, each image well under any per-file limit.
    images = [ImagePart(data=PNG + bytes(30 * content.MIB)) for _ in range(3)]
    with pytest.raises(InvalidRequestError, match="at most 100 MB of inline data per request"):
        await provider().complete(user("Compare", *images))
    assert not route.called


def test_the_inline_limit_counts_base64_across_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "INLINE_LIMIT", 100)
    small = ImagePart(data=PNG + bytes(32))  # 72 bytes, 96 in base64
    encode(user(small))
    two_turns = CompletionRequest(
        [ChatMessage.user(small), ChatMessage.assistant("ok"), ChatMessage.user(small)]
    )
    with pytest.raises(InvalidRequestError, match="has 192 bytes"):
        encode(two_turns)


@pytest.mark.parametrize(
    "part", [ImagePart(data=PNG), DocumentPart(url="https://example.com/rules.pdf")]
)
def test_media_in_a_system_message_is_refused(part: Any) -> None:
    request = CompletionRequest([ChatMessage.system("Rules", part), ChatMessage.user("Hi")])
    with pytest.raises(InvalidRequestError, match="system instructions"):
        encode(request)


def test_system_text_parts_become_the_system_instruction() -> None:
    request = CompletionRequest(
        [ChatMessage.system("Rules. ", CachePoint(), "More."), ChatMessage.user("Hi")]
    )
    assert encode(request)["systemInstruction"] == {"parts": [{"text": "Rules. More."}]}


# --- reasoning parts sent back --------------------------------------------------------------


def test_own_reasoning_is_sent_back_as_thought_parts_and_signatures() -> None:
    request = CompletionRequest(
        [
            ChatMessage.user("2 + 2?"),
            ChatMessage.assistant(
                ReasoningPart("Adding.", signature="sig-thought", provider="google"),
                ReasoningPart("", signature="sig-text", provider="google"),
                TextPart("4"),
                ReasoningPart("", signature="sig-end", provider="google"),
            ),
            ChatMessage.user("And 3 + 3?"),
        ]
    )
    assert encode(request)["contents"][1] == {
        "role": "model",
        "parts": [
            {"text": "Adding.", "thought": True, "thoughtSignature": "sig-thought"},
            {"text": "4", "thoughtSignature": "sig-text"},
            {"text": "", "thoughtSignature": "sig-end"},
        ],
    }


def test_other_vendors_reasoning_is_dropped() -> None:
    request = CompletionRequest(
        [
            ChatMessage.user("2 + 2?"),
            ChatMessage.assistant(
                ReasoningPart("Adding.", signature="EqQBCkYIARgC", provider="anthropic"),
                ReasoningPart("Unsigned.", provider=None),
                TextPart("4"),
            ),
            ChatMessage.assistant(ReasoningPart("Only thinking.", provider="openai")),
            ChatMessage.user("And 3 + 3?"),
        ]
    )
    assert encode(request)["contents"] == [
        {"role": "user", "parts": [{"text": "2 + 2?"}]},
        {"role": "model", "parts": [{"text": "4"}]},
        {"role": "user", "parts": [{"text": "And 3 + 3?"}]},
    ]


@respx.mock
async def test_a_gemini_3_answer_sent_back_round_trips_its_parts_exactly() -> None:
    recorded = recording(GEMINI_3_THINKING)
    respx.post(f"{BASE}/gemini-3-pro-preview:generateContent").mock(
        return_value=httpx.Response(200, content=recorded["response"]["body_text"].encode())
    )
    response = await provider("gemini-3-pro-preview").complete(user("What is 2 + 2?"))
    text, thought = response.parts[-1], response.parts[0]
    assert isinstance(thought, ReasoningPart)
    assert thought.provider == "google"
    assert isinstance(response.parts[1], ReasoningPart)
    assert response.parts[1].text == ""
    assert isinstance(text, TextPart)
    assert text.text == response.content
    follow_up = CompletionRequest(
        [
            ChatMessage.user("What is 2 + 2?"),
            ChatMessage.assistant(*response.parts),
            ChatMessage.user("And 3 + 3?"),
        ]
    )
    sent_back = encode(follow_up, "gemini-3-pro-preview")["contents"][1]
    original = json.loads(recorded["response"]["body_text"])["candidates"][0]["content"]
    assert sent_back["parts"] == original["parts"]


@respx.mock
async def test_a_streamed_gemini_3_answer_keeps_its_closing_signature() -> None:
    recorded = recording(GEMINI_3_STREAM)
    body = recorded["response"]["body_text"].encode()
    respx.post(f"{BASE}/gemini-3-pro-preview:streamGenerateContent").mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=body
        )
    )
    events = [e async for e in provider("gemini-3-pro-preview").stream(user("What is 2 + 2?"))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    thought, text, closing = end.response.parts
    assert isinstance(thought, ReasoningPart)
    assert thought.text == end.response.reasoning_text
    assert isinstance(text, TextPart)
    assert text.text == end.response.content
    assert isinstance(closing, ReasoningPart)
    assert closing.text == ""
    assert closing.signature
    turn = ChatMessage.assistant(*end.response.parts)
    sent_back = encode(CompletionRequest([ChatMessage.user("Q"), turn]))["contents"][1]["parts"]
    assert sent_back == [
        {"text": thought.text, "thought": True},
        {"text": text.text},
        {"text": "", "thoughtSignature": closing.signature},
    ]


# --- reasoning settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        # Literal from a recorded request (pydantic-ai, gemini-2.5-flash).
        (
            "gemini-2.5-flash",
            ReasoningConfig(budget_tokens=3200, include_text=True),
            {"includeThoughts": True, "thinkingBudget": 3200},
        ),
        ("gemini-2.5-flash", ReasoningConfig(effort="none"), {"thinkingBudget": 0}),
        ("gemini-2.5-flash-lite", ReasoningConfig(effort="minimal"), {"thinkingBudget": 512}),
        ("models/gemini-2.5-pro", ReasoningConfig(effort="medium"), {"thinkingBudget": 8192}),
        ("gemini-2.5-flash", ReasoningConfig(effort="high"), {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", ReasoningConfig(effort="high"), {"thinkingLevel": "HIGH"}),
        ("gemini-3-flash-preview", ReasoningConfig(effort="minimal"), {"thinkingLevel": "MINIMAL"}),
        ("gemini-3-flash-preview", ReasoningConfig(effort="none"), {"thinkingLevel": "MINIMAL"}),
        ("gemini-flash-latest", ReasoningConfig(effort="low"), {"thinkingLevel": "LOW"}),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(effort="low", budget_tokens=6400, include_text=True),
            {"includeThoughts": True, "thinkingBudget": 6400},
        ),
        ("gemini-3-pro-preview", ReasoningConfig(include_text=True), {"includeThoughts": True}),
    ],
)
def test_reasoning_becomes_the_thinking_config(
    model: str, reasoning: ReasoningConfig, expected: dict[str, Any]
) -> None:
    request = CompletionRequest([ChatMessage.user("Hi")], reasoning=reasoning)
    assert encode(request, model)["generationConfig"]["thinkingConfig"] == expected


def test_an_empty_reasoning_config_sends_no_thinking_config() -> None:
    request = CompletionRequest([ChatMessage.user("Hi")], reasoning=ReasoningConfig())
    assert "thinkingConfig" not in encode(request)["generationConfig"]


def test_vendor_options_override_the_thinking_config() -> None:
    request = CompletionRequest(
        [ChatMessage.user("Hi")],
        reasoning=ReasoningConfig(effort="low", include_text=True),
        vendor_options={"generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}},
    )
    assert encode(request)["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": -1,
    }


# --- reasoning in answers ----------------------------------------------------------------------


@respx.mock
async def test_thoughts_become_reasoning_parts_before_the_text() -> None:
    body = answer({"text": "Hmm.", "thought": True}, {"text": "Paris"}, thoughtsTokenCount=9)
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    response = await provider().complete(user("Capital of France?"))
    assert response.parts == (ReasoningPart("Hmm.", provider="google"), TextPart("Paris"))
    assert (response.content, response.reasoning_text) == ("Paris", "Hmm.")
    assert response.reasoning_tokens == 9


@respx.mock
async def test_a_signature_without_thoughts_is_kept_but_is_no_reasoning_text() -> None:
    body = answer({"text": "Paris", "thoughtSignature": "c2ln"})
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    response = await provider().complete(user("Capital of France?"))
    assert response.parts == (
        ReasoningPart("", signature="c2ln", provider="google"),
        TextPart("Paris"),
    )
    assert response.reasoning_text is None


@respx.mock
async def test_a_chunk_with_several_parts_gives_its_deltas_in_order() -> None:
    chunk = answer(
        {"text": "Think ", "thought": True},
        {"text": "more.", "thought": True},
        {"text": "Par"},
        {"text": "is"},
        finish="STOP",
    )
    respx.post(STREAM_URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(chunk)
        )
    )
    events = [e async for e in provider().stream(user("Capital of France?"))]
    assert events[:-1] == [
        ReasoningDelta("Think "),
        ReasoningDelta("more."),
        TextDelta("Par"),
        TextDelta("is"),
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.parts == (
        ReasoningPart("Think more.", provider="google"),
        TextPart("Paris"),
    )


@respx.mock
async def test_an_answer_that_spent_its_budget_on_thinking_says_so() -> None:
    body = answer({"text": "Still thinking", "thought": True}, finish="MAX_TOKENS")
    body["usageMetadata"] = {"promptTokenCount": 5, "thoughtsTokenCount": 300}
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmptyResponseError, match="whole output budget on reasoning"):
        await provider().complete(user("Hard question"))


@respx.mock
async def test_a_stream_that_spent_its_budget_on_thinking_says_so() -> None:
    thinking = answer({"text": "Still thinking", "thought": True}, finish="MAX_TOKENS")
    thinking["usageMetadata"] = {"promptTokenCount": 5, "thoughtsTokenCount": 300}
    respx.post(STREAM_URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(thinking)
        )
    )
    with pytest.raises(EmptyResponseError, match="300 thinking tokens"):
        async for _ in provider().stream(user("Hard question")):
            pass


@respx.mock
async def test_an_empty_length_answer_without_thinking_keeps_the_plain_message() -> None:
    body = answer({"text": ""}, finish="MAX_TOKENS")
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmptyResponseError) as caught:
        await provider().complete(user("Hi"))
    assert "reasoning" not in str(caught.value)


# --- against the fake server -----------------------------------------------------------------


async def test_the_fake_server_reads_images_and_pdfs_and_answers_with_thoughts() -> None:
    seen: list[AnswerRequest] = []

    def record(request: AnswerRequest) -> str:
        seen.append(request)
        return "two attachments"

    server = FakeProviderServer(api_key=KEY, answer=record)
    request = CompletionRequest(
        [ChatMessage.user("What are these?", ImagePart(data=PNG), DocumentPart(data=PDF))],
        reasoning=ReasoningConfig(effort="low", include_text=True),
    )
    async with httpx.AsyncClient(transport=server.transport()) as client:
        fake = provider(base_url=server.base_url("gemini"), http_client=client)
        response = await fake.complete(request)
        events = [event async for event in fake.stream(request)]
    assert [r.attachments for r in seen] == [("image/png", "application/pdf")] * 2
    assert all(r.reasoning for r in seen)
    assert response.content == "two attachments"
    assert response.reasoning_text == "The request asks about: What are these?"
    assert response.reasoning_tokens == 7
    assert response.output_tokens == 2 + 7
    assert response.input_tokens == 3 + 2 * 100
    thoughts = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert thoughts == response.reasoning_text
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.parts == response.parts


async def test_the_fake_server_reports_cache_reads_on_a_repeated_prefix() -> None:
    server = FakeProviderServer(api_key=KEY)
    history = [
        ChatMessage.system("You sort e-mails into billing, support or sales."),
        ChatMessage.user("First e-mail"),
        ChatMessage.assistant("billing"),
    ]
    async with httpx.AsyncClient(transport=server.transport()) as client:
        fake = provider(base_url=server.base_url("gemini"), http_client=client)
        first = await fake.complete(CompletionRequest([*history, ChatMessage.user("Refund?")]))
        second = await fake.complete(CompletionRequest([*history, ChatMessage.user("Demo?")]))
    assert first.cached_input_tokens is None
    assert second.cached_input_tokens == 8 + 2 + 1
    assert second.input_tokens == first.input_tokens


def _part(**fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "Look"}, fields]}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _part(inlineData={"mimeType": "image/png", "data": ""}),
            "Unable to submit request because it has an empty inlineData parameter.",
        ),
        (
            _part(inlineData={"mimeType": "image/png", "data": "not base64!"}),
            "Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES), "
            'Base64 decoding failed for "not base64!"',
        ),
        (
            _part(inlineData={"mimeType": "application/zip", "data": "UEsDBA=="}),
            "Unsupported MIME type: application/zip",
        ),
    ],
)
async def test_the_fake_server_refuses_a_malformed_part_as_gemini_does(
    body: dict[str, Any], message: str
) -> None:
    server = FakeProviderServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(
            f"{server.base_url('gemini')}/v1beta/models/gemini-test:generateContent",
            json=body,
            headers={"x-goog-api-key": "test-key"},
        )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(message)


async def test_the_fake_server_takes_url_safe_base64_as_gemini_does() -> None:
    seen: list[AnswerRequest] = []
    server = FakeProviderServer(answer=lambda request: seen.append(request) or "ok")
    data = base64.urlsafe_b64encode(b"\xff\xd8\xff\xfe\xfb").decode().rstrip("=")
    async with httpx.AsyncClient(transport=server.transport()) as client:
        reply = await client.post(
            f"{server.base_url('gemini')}/v1beta/models/gemini-test:generateContent",
            json=_part(inlineData={"mimeType": "image/jpeg", "data": data}),
            headers={"x-goog-api-key": "test-key"},
        )
    assert reply.status_code == 200
    assert seen[0].attachments == ("image/jpeg",)
