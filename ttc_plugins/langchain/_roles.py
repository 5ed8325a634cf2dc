"""Turn what a user passes for a strategy role (critic, editor, feedback model, ...) into a Runnable.

A role may be given as a chat model (a dedicated model for that role: it gets the role's prompt), a
Runnable or a function over the role's payload dict (used as is), or nothing (the strategy's own
chat model, found inside the wrapped chain, gets the role's prompt).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnableSequence

__all__ = ["model_of", "output_parser_of", "role_runnable"]


def model_of(runnable: Runnable[Any, Any]) -> BaseChatModel | None:
    """The chat model inside a runnable (itself, or a step of a ``prompt | model | parser`` chain).

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> model = FakeListChatModel(responses=["hi"])
        >>> model_of(ChatPromptTemplate.from_messages([("user", "{q}")]) | model) is model
        True
    """
    if isinstance(runnable, BaseChatModel):
        return runnable
    if isinstance(runnable, RunnableSequence):
        return next((step for step in runnable.steps if isinstance(step, BaseChatModel)), None)
    return None


def output_parser_of(runnable: Runnable[Any, Any]) -> BaseOutputParser[Any] | None:
    """The output parser that ends a chain, if any (so rewritten versions keep the chain's output type)."""
    last = runnable.steps[-1] if isinstance(runnable, RunnableSequence) else None
    return last if isinstance(last, BaseOutputParser) else None


def role_runnable(
    step: Any,
    *,
    role: str,
    template: str,
    strategy: str,
    fallback: Runnable[Any, Any] | None = None,
    parser: BaseOutputParser[Any] | None = None,
) -> Runnable[Any, Any]:
    """The Runnable that plays ``role``: see the module docstring for what ``step`` may be.

    Args:
        step: what the user passed for the role (or None).
        role: the role's name, for error messages.
        template: the role's user prompt (``str.format`` fields = the payload's keys).
        strategy: the strategy's name, for error messages.
        fallback: the runnable whose chat model plays the role when ``step`` is None.
        parser: appended after a chat model (e.g. the draft chain's parser, for rewritten versions).
    """
    if step is not None and not isinstance(step, BaseChatModel):
        if isinstance(step, Runnable):
            return step
        if callable(step):
            return RunnableLambda(step, name=role)
        raise TypeError(f"{role} must be a chat model, a Runnable or a function of a dict, got {step!r}")
    model = step if step is not None else (model_of(fallback) if fallback is not None else None)
    if model is None:
        where = f" in {fallback.get_name()!r}" if fallback is not None else ""
        raise ValueError(f"{strategy}() cannot find a chat model{where} to act as {role}; pass {role}=")
    chain = ChatPromptTemplate.from_messages([("user", template)]) | model
    return chain | parser if parser is not None else chain
