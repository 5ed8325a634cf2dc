"""What every LangGraph strategy does with the ``generate`` a user passes: make it a Runnable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

__all__ = ["as_generator"]


def as_generator(generate: Runnable[Any, Any] | Callable[[Any], Any]) -> Runnable[Any, Any]:
    """``generate`` as a Runnable: a Runnable as it is, a function (sync or async) wrapped.

    Example:
        >>> as_generator(lambda question: "Answer: 4").invoke("2 + 2?")
        'Answer: 4'
    """
    if isinstance(generate, Runnable):
        return generate
    if callable(generate):
        return RunnableLambda(generate, name=getattr(generate, "__name__", None))  # sync or async
    raise TypeError(f"generate must be a Runnable or a callable, got {type(generate).__name__}")
