"""AWS Bedrock Converse as the fake server speaks it: SigV4 checks, bodies, event streams, errors.

`POST /model/{modelId}/converse` answers JSON; `/converse-stream` answers binary event-stream
frames (`eventstream.py`). A request is signed with SigV4 by one of the `TEST_KEYS` (the
server recomputes the signature with botocore from the raw path, the signed headers and the
body, and compares: `sigv4.py`), or carries a Bedrock API key (`Authorization: Bearer`,
checked like the other vendors' keys). A bad signature is AWS's 403
InvalidSignatureException, an unknown access key its UnrecognizedClientException, a missing
`Authorization` its MissingAuthenticationTokenException.

Requests are read block by block: text, images and documents (their formats become the
request's `attachments`), cache points (the text before the last one is the
`cache_prefix`), reasoning and tool blocks (accepted; tool blocks need a `toolConfig`, as
Converse requires). With Claude thinking on, the answer starts with a reasoning block.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest, split_words
from ashford_llm.testing.fake_server.eventstream import event_frame, exception_frame
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.sigv4 import check_signature
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode

__all__ = [
    "OPERATIONS",
    "TEST_ACCESS_KEY",
    "TEST_KEYS",
    "TEST_REGION",
    "TEST_SECRET_KEY",
    "BedrockFormat",
    "for_request",
]

TEST_REGION = "us-east-1"
TEST_ACCESS_KEY = "AKIDASHFORDFAKE00001"
TEST_SECRET_KEY = "fake/secret/for/the/ashford/test/server0"
TEST_KEYS: Mapping[str, str] = {
    TEST_ACCESS_KEY: TEST_SECRET_KEY,
    "AKIDASHFORDFAKE00002": "fake/secret/for/the/ashford/test/server2",
}
"""Access key id -> secret key the fake server checks SigV4 signatures with."""

OPERATIONS = {"converse": False, "converse-stream": True}
"""Path suffix -> whether the operation streams."""

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
_IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
_DOCUMENT_FORMATS = {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}
_MEDIA_TYPES = {"pdf": "application/pdf", "txt": "text/plain", "csv": "text/csv"}
_DOCUMENT_NAME = re.compile(r"(?:[A-Za-z0-9\-()\[\]]|\s(?!\s))+")
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


class _Source(msgspec.Struct):
    bytes: str | None = None
    s3Location: dict[str, Any] | None = None
    text: str | None = None


class _Media(msgspec.Struct):
    format: str = ""
    source: _Source | None = None
    name: str | None = None


class _Block(msgspec.Struct):
    text: str | None = None
    image: _Media | None = None
    document: _Media | None = None
    cachePoint: dict[str, Any] | None = None
    reasoningContent: dict[str, Any] | None = None
    toolUse: dict[str, Any] | None = None
    toolResult: dict[str, Any] | None = None


class _Message(msgspec.Struct):
    role: str
    content: list[_Block]


class _Inference(msgspec.Struct):
    maxTokens: int | None = None
    temperature: float | None = None


class _OutputConfig(msgspec.Struct):
    textFormat: dict[str, Any] | None = None


class _Request(msgspec.Struct):
    messages: list[_Message]
    system: list[_Block] = []
    inferenceConfig: _Inference | None = None
    toolConfig: dict[str, Any] | None = None
    additionalModelRequestFields: dict[str, Any] | None = None
    outputConfig: _OutputConfig | None = None


_decoder = msgspec.json.Decoder(_Request)


def _error(name: str, message: str, status: int, request_id: str) -> Reply:
    """Returns an AWS JSON error: the name in `x-amzn-ErrorType`, `{"message"}` in the body."""
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return Reply(status=status, body=encode({"message": message}), headers=headers)


def _signature(reasoning: str) -> str:
    """A stand-in for the model's opaque reasoning signature."""
    return base64.b64encode(hashlib.sha256(reasoning.encode()).digest()).decode()


def _media_type(kind: str, media: _Media, where: str) -> str:
    """Checks an image or document block as Converse does; returns its media type."""
    formats = _IMAGE_FORMATS if kind == "image" else _DOCUMENT_FORMATS
    if media.format not in formats:
        raise BadRequest(
            f"{where}.{kind}.format: Member must satisfy enum value set: {sorted(formats)}"
        )
    if media.source is None or (media.source.bytes is None and media.source.s3Location is None):
        raise BadRequest(f"{where}.{kind}.source: the source must have bytes or s3Location")
    if media.source.bytes is not None:
        try:
            base64.b64decode(media.source.bytes, validate=True)
        except ValueError as exc:
            raise BadRequest(f"{where}.{kind}.source.bytes: invalid base64") from exc
    if kind == "document":
        if not media.name or not _DOCUMENT_NAME.fullmatch(media.name):
            raise BadRequest(
                f"{where}.document.name: the name may only contain alphanumeric characters, "
                "whitespace (no more than one in a row), hyphens, parentheses and square brackets"
            )
        return _MEDIA_TYPES.get(media.format, f"application/{media.format}")
    return f"image/{media.format}"


def _read(request: _Request) -> tuple[list[tuple[str, str]], list[str], str, bool]:
    """Checks every block; returns (role, text) pairs, media types, cache prefix, tool blocks."""
    messages: list[tuple[str, str]] = []
    attachments: list[str] = []
    texts: list[str] = []
    prefix_end = 0
    tools = False
    if request.system:
        system = "".join(block.text or "" for block in request.system)
        messages.append(("system", system))
        texts.append(system)
        if any(block.cachePoint is not None for block in request.system):
            prefix_end = 1
    for index, message in enumerate(request.messages):
        if message.role not in ("user", "assistant"):
            raise BadRequest(f"messages.{index}.role: must be user or assistant")
        if not message.content:
            raise BadRequest(f"messages.{index}.content: must have at least 1 block")
        text = []
        for number, block in enumerate(message.content):
            where = f"messages.{index}.content.{number}"
            if block.text is not None:
                if not block.text.strip():
                    raise BadRequest(
                        f"{where}: The text field in the ContentBlock object is blank."
                    )
                text.append(block.text)
            elif block.image is not None:
                attachments.append(_media_type("image", block.image, where))
            elif block.document is not None:
                attachments.append(_media_type("document", block.document, where))
            elif block.toolUse is not None or block.toolResult is not None:
                tools = True
            if block.cachePoint is not None:
                prefix_end = len(texts) + 1
        messages.append((message.role, "".join(text)))
        texts.append("".join(text))
    if tools and request.toolConfig is None:
        raise BadRequest(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    return messages, attachments, "\n".join(texts[:prefix_end]), tools


def _wants_reasoning(request: _Request) -> bool:
    """True when Claude thinking is on (not omitted), as additionalModelRequestFields say."""
    fields = request.additionalModelRequestFields or {}
    thinking = fields.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return False
    return thinking.get("display") != "omitted"


def _usage(answer: Answer) -> dict[str, int]:
    """Converse's usage: `inputTokens` excludes the cache reads and writes."""
    written, read = answer.cache_write_tokens, answer.cached_tokens
    input_tokens = max(0, answer.input_tokens - written - read)
    return {
        "inputTokens": input_tokens,
        "outputTokens": answer.output_tokens,
        "totalTokens": input_tokens + written + read + answer.output_tokens,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": written,
    }


class BedrockFormat:
    """The Converse wire format, for one request (its path and body are needed to check SigV4).

    Args:
        method: the request's method.
        raw_path: the path as sent (percent-encoded), with any query.
        body: the request body.
    """

    name = "bedrock"

    def __init__(self, method: str = "POST", raw_path: str = "", body: bytes = b"") -> None:
        self._method = method
        self._raw_path = raw_path
        self._body = body

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks a SigV4 signature by one of TEST_KEYS, or a Bedrock API key (bearer)."""
        request_id = "fake-auth"
        authorization = headers.get("authorization", "")
        if not authorization:
            return _error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
                403,
                request_id,
            )
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() == "bearer":
            if not key or (api_key is not None and key != api_key):
                return _error(
                    "UnrecognizedClientException",
                    "Invalid API Key format: Must start with pre-defined prefix",
                    403,
                    request_id,
                )
            return None
        failure = check_signature(self._method, self._raw_path, headers, self._body, TEST_KEYS)
        if failure == "unknown key":
            return _error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                403,
                request_id,
            )
        if failure == "expired":
            return _error(
                "InvalidSignatureException",
                "Signature expired: the request time is too far from the server's",
                403,
                request_id,
            )
        if failure is not None:
            return _error("InvalidSignatureException", _BAD_SIGNATURE, 403, request_id)
        return None

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a Converse request (the model comes from the path)."""
        try:
            request = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"Malformed input request: {exc}") from exc
        if not request.messages:
            raise BadRequest("A conversation must start with a user message.")
        messages, attachments, prefix, _ = _read(request)
        inference = request.inferenceConfig
        if (
            inference is not None
            and inference.temperature is not None
            and not 0 <= inference.temperature <= 1
        ):
            raise BadRequest("inferenceConfig.temperature: Member must have value between 0 and 1")
        output = request.outputConfig
        return AnswerRequest(
            vendor=self.name,
            model=model or "",
            messages=tuple(messages),
            json=output is not None and output.textFormat is not None,
            max_tokens=inference.maxTokens if inference is not None else None,
            stream=stream,
            attachments=tuple(attachments),
            reasoning=_wants_reasoning(request),
            cache_prefix=prefix,
        )

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns Bedrock's 400 ValidationException."""
        return _error("ValidationException", message, 400, request_id)

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns `x-amzn-RequestId`."""
        return {"x-amzn-RequestId": request_id}

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a ConverseResponse (a reasoning block first when there is reasoning)."""
        content: list[dict[str, Any]] = []
        if answer.reasoning:
            reasoning = {"text": answer.reasoning, "signature": _signature(answer.reasoning)}
            content.append({"reasoningContent": {"reasoningText": reasoning}})
        content.append({"text": answer.text})
        return encode(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": _STOP_REASONS[answer.finish],
                "usage": _usage(answer),
                "metrics": {"latencyMs": 42},
            }
        )

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns messageStart, any reasoning block, text deltas, then stop and metadata."""
        head = [event_frame("messageStart", {"role": "assistant", "p": "abcd"})]
        index = 0
        if answer.reasoning:
            for piece in split_words(answer.reasoning):
                delta = {"reasoningContent": {"text": piece}}
                head.append(
                    event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta})
                )
            signature = {"reasoningContent": {"signature": _signature(answer.reasoning)}}
            head.append(
                event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": signature})
            )
            head.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        chunks = tuple(
            event_frame(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"text": piece}, "p": "abc"},
            )
            for piece in answer.chunks
        )
        tail = (
            event_frame("contentBlockStop", {"contentBlockIndex": index}),
            event_frame("messageStop", {"stopReason": _STOP_REASONS[answer.finish]}),
            event_frame("metadata", {"usage": _usage(answer), "metrics": {"latencyMs": 42}}),
        )
        return StreamPlan(
            head=tuple(head),
            chunks=chunks,
            tail=tail,
            content_type="application/vnd.amazon.eventstream",
        )

    def stream_error(self) -> bytes:
        """Returns a `modelStreamErrorException` frame."""
        body = {
            "message": "The model failed while streaming its response. Retry your request.",
            "originalStatusCode": 500,
        }
        return exception_frame("modelStreamErrorException", body)

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Bedrock's reply for a status fault (Bedrock sends no Retry-After)."""
        if fault is Fault.rate_limit:
            return _error(
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
                429,
                request_id,
            )
        if fault is Fault.quota_exhausted:
            message = "Your request exceeds the service quota for your account."
            return _error("ServiceQuotaExceededException", message, 400, request_id)
        if fault is Fault.server_error:
            return _error(
                "InternalServerException",
                "The server encountered an internal error.",
                500,
                request_id,
            )
        if fault is Fault.overloaded:
            message = "The model is not ready to serve inference requests."
            return _error("ModelNotReadyException", message, 429, request_id)
        return _error(
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            503,
            request_id,
        )


FORMAT = BedrockFormat()


def for_request(method: str, raw_path: str, body: bytes) -> BedrockFormat:
    """Returns the format for one request, which needs its path and body to check SigV4."""
    return BedrockFormat(method, raw_path, body)
