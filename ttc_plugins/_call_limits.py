"""What a model call's own options say about its worst case: its output cap and its number of choices.

Both framework hooks (LangChain's budget handler, DSPy's ``BudgetedLM``) reserve ``cap × choices``
output tokens before a call; the names integrations give these options are listed here once.

Example:
    >>> worst_case_output({"max_completion_tokens": 64, "n": 3}, default=512)
    192
    >>> worst_case_output({"temperature": 0.7}, default=512)
    512
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_OUTPUT_KEYS", "choices_asked", "output_cap", "worst_case_output"]

MAX_OUTPUT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "num_predict")
"""Names different integrations give the output cap (OpenAI, Anthropic, Google, Hugging Face, Ollama)."""


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def output_cap(options: Mapping[str, Any], *fallbacks: Any) -> int | None:
    """The call's output cap: the first positive integer under one of :data:`MAX_OUTPUT_KEYS`, else the
    first positive integer among ``fallbacks`` (e.g. LangSmith's ``ls_max_tokens``), else None."""
    for key in MAX_OUTPUT_KEYS:
        if (cap := _positive_int(options.get(key))) is not None:
            return cap
    return next((cap for value in fallbacks if (cap := _positive_int(value)) is not None), None)


def choices_asked(options: Mapping[str, Any]) -> int:
    """How many choices the call asks for (OpenAI-style ``n``); each may be as long as the cap."""
    return _positive_int(options.get("n")) or 1


def worst_case_output(options: Mapping[str, Any], *, default: int, fallbacks: tuple[Any, ...] = ()) -> int:
    """The output tokens to reserve for a call: its cap (``default`` when it sets none) × its choices."""
    cap = output_cap(options, *fallbacks)
    return (cap if cap is not None else default) * choices_asked(options)
