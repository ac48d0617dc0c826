"""Maps a ReasoningConfig onto Anthropic's `thinking` and `output_config.effort`, per model.

Which thinking a model takes is model data (the table below, from Anthropic's model pages
and the SDK's types as summarised in ../shared/reference/content-and-reasoning.md §2.2):

| Models | adaptive + effort | budget (`enabled`) | `output_config.effort` | shown |
|---|---|---|---|---|
| Opus 4.7, 4.8, Opus 5, Sonnet 5, Fable 5, Mythos 5, unknown (newer) | yes | no (400) | yes | no |
| Opus 4.6, Sonnet 4.6 | yes | yes | yes | yes |
| Opus 4.5 | no | yes | yes | yes |
| Sonnet 4.5, Haiku 4.5 and older | no | yes | no | yes |

"shown" is the default of `thinking.display`: "summarized" (the thinking text comes back)
before Opus 4.7, "omitted" from it on.

The mapping: `budget_tokens` N is `{"type": "enabled", "budget_tokens": N}` (at least 1024
and below `max_tokens`; 0 turns thinking off); effort "none" is `{"type": "disabled"}`; other
efforts are adaptive thinking with `output_config.effort` ("minimal" is "low") where the model
has it, else a budget of 1024 (minimal, low), 2048 (medium) or 4096 (high) tokens; no effort
and no budget with `include_text` is adaptive thinking, or the 1024-token minimum budget.
`display` is sent only where it differs from the model's default: "summarized" with
`include_text`, else "omitted" (the thinking text is withheld, its signature still comes back
for the next turn).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ashford_llm.errors import InvalidRequestError
from ashford_llm.types import ReasoningConfig

__all__ = ["MIN_BUDGET", "ThinkingSupport", "thinking_for", "thinking_support"]

MIN_BUDGET = 1024


class ThinkingSupport(msgspec.Struct, frozen=True, kw_only=True):
    """Which thinking controls a model family takes."""

    adaptive: bool
    budget: bool
    effort: bool
    shown: bool = True


_NEWEST = ThinkingSupport(adaptive=True, budget=False, effort=True, shown=False)
_FAMILIES: tuple[tuple[tuple[str, ...], ThinkingSupport], ...] = (
    (
        (
            "claude-opus-4-7",
            "claude-opus-4-8",
            "claude-opus-5",
            "claude-sonnet-5",
            "claude-fable-5",
            "claude-mythos-5",
        ),
        _NEWEST,
    ),
    (
        ("claude-opus-4-6", "claude-sonnet-4-6"),
        ThinkingSupport(adaptive=True, budget=True, effort=True),
    ),
    (("claude-opus-4-5",), ThinkingSupport(adaptive=False, budget=True, effort=True)),
    (
        ("claude-sonnet-4", "claude-opus-4", "claude-haiku-4", "claude-3", "claude-2"),
        ThinkingSupport(adaptive=False, budget=True, effort=False),
    ),
)
# Budgets for models that take no effort, by effort (LiteLLM's defaults for the same scale).
_EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def thinking_support(model: str) -> ThinkingSupport:
    """Returns the thinking controls of a model, by its name; unknown names are the newest."""
    for prefixes, support in _FAMILIES:
        if model.startswith(prefixes):
            return support
    return _NEWEST


def thinking_for(
    reasoning: ReasoningConfig, support: ThinkingSupport, *, model: str, max_tokens: int
) -> tuple[dict[str, Any] | None, str | None]:
    """Returns the `thinking` object and the `output_config.effort` to send (None: none)."""
    effort = reasoning.effort
    budget = reasoning.budget_tokens
    if budget == 0 or (budget is None and effort == "none"):
        return {"type": "disabled"}, None
    shown: dict[str, Any] = {}
    if reasoning.include_text != support.shown:
        shown["display"] = "summarized" if reasoning.include_text else "omitted"
    if budget is not None:
        if not support.budget:
            raise InvalidRequestError(
                f"{model} takes no thinking budget (Anthropic answers 400): give an effort"
            )
        _check_budget(budget, max_tokens, f"the thinking budget ({budget})")
        return {"type": "enabled", "budget_tokens": budget, **shown}, None
    if effort is None and not reasoning.include_text:
        return None, None
    if support.adaptive:
        return {"type": "adaptive", **shown}, _EFFORTS.get(effort or "")
    budget = _EFFORT_BUDGETS[effort] if effort is not None else MIN_BUDGET
    what = f"effort {effort!r} ({budget} thinking tokens on {model})" if effort else "thinking"
    _check_budget(budget, max_tokens, what)
    thinking = {"type": "enabled", "budget_tokens": budget, **shown}
    return thinking, (_EFFORTS[effort] if effort is not None and support.effort else None)


def _check_budget(budget: int, max_tokens: int, what: str) -> None:
    """Raises unless MIN_BUDGET <= budget < max_tokens, as Anthropic requires."""
    if budget < MIN_BUDGET:
        raise InvalidRequestError(
            f"Anthropic's thinking budget must be at least {MIN_BUDGET} tokens, got {budget}"
        )
    if budget >= max_tokens:
        raise InvalidRequestError(
            f"{what} needs max_tokens above {budget}, got {max_tokens}: Anthropic counts "
            "thinking toward max_tokens"
        )
