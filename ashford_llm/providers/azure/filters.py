"""Azure OpenAI's content filter, read from its answers into ContentFilterError.

Azure runs a filter over the prompt and the completion and says so in two ways:

- a filtered prompt is a 400 whose OpenAI-style error has `code: "content_filter"` and
  `innererror.content_filter_result` (one verdict per category);
- a filtered completion is a 200 whose choice has `finish_reason: "content_filter"` and
  `content_filter_results`, complete or in a stream chunk.

Both become a ContentFilterError (fatal) whose `filter_results` keeps the verdicts as Azure
sent them: categories, severities and `filtered`/`detected` flags, no content. A completion
cut by the filter raises even when some text came before the cut: the answer is incomplete
by policy, not by budget. Chunks that only annotate (every chunk of an Azure stream carries
`content_filter_results`, the first one `prompt_filter_results` with no choices) pass.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ashford_llm.errors import ContentFilterError
from ashford_llm.providers._http import DECODE_FAILURES

__all__ = ["CompletionFilter", "completion_filter", "prompt_filter"]


class _InnerError(msgspec.Struct):
    code: str | None = None
    content_filter_result: dict[str, Any] | None = None


class _Error(msgspec.Struct):
    code: str | int | None = None
    message: str | None = None
    innererror: _InnerError | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: _Error | None = None


class _Choice(msgspec.Struct):
    index: int = 0
    finish_reason: str | None = None
    content_filter_results: dict[str, Any] | None = None


class _Answer(msgspec.Struct):
    choices: list[_Choice] | None = None


_ERROR = msgspec.json.Decoder(_ErrorEnvelope)
_ANSWER = msgspec.json.Decoder(_Answer)


def _flagged(results: dict[str, Any] | None) -> list[str]:
    """Names the categories Azure filtered, with their severity where it gives one."""
    named = []
    for category, verdict in (results or {}).items():
        if isinstance(verdict, dict) and verdict.get("filtered") is True:
            severity = verdict.get("severity")
            named.append(f"{category}: {severity}" if isinstance(severity, str) else category)
    return named


def _message(what: str, results: dict[str, Any] | None) -> str:
    flagged = _flagged(results)
    return f"Azure's content filter blocked the {what}" + (
        f" ({', '.join(flagged)})" if flagged else ""
    )


def prompt_filter(body: bytes) -> ContentFilterError | None:
    """Returns the error for a 400 that says the prompt was filtered, else None."""
    try:
        envelope = _ERROR.decode(body)
    except DECODE_FAILURES:
        return None
    error = envelope.error
    if error is None or str(error.code) != "content_filter":
        return None
    results = error.innererror.content_filter_result if error.innererror else None
    return ContentFilterError(
        _message("prompt", results),
        error_code="content_filter",
        error_type=error.innererror.code if error.innererror else None,
        filter_results=results,
    )


def completion_filter(body: bytes | str) -> ContentFilterError | None:
    """Returns the error for an answer whose first choice the filter cut, else None."""
    filtered = CompletionFilter()
    filtered.feed(body)
    return filtered.error()


class CompletionFilter:
    """Follows a completion or its stream chunks; says whether the filter cut the answer."""

    __slots__ = ("filtered", "results")

    def __init__(self) -> None:
        self.filtered = False
        self.results: dict[str, Any] | None = None

    def feed(self, data: bytes | str) -> None:
        """Reads one body or chunk; bodies that do not parse are left to the OpenAI decoder."""
        try:
            answer = _ANSWER.decode(data)
        except DECODE_FAILURES:
            return
        for choice in answer.choices or ():
            if choice.index != 0 or self.filtered:
                continue  # after the cut, later annotations do not replace its verdicts
            if choice.content_filter_results:
                self.results = choice.content_filter_results
            if choice.finish_reason == "content_filter":
                self.filtered = True

    def error(self) -> ContentFilterError | None:
        """Returns the ContentFilterError when the filter cut the answer."""
        if not self.filtered:
            return None
        return ContentFilterError(
            _message("answer", self.results),
            error_code="content_filter",
            filter_results=self.results,
        )
