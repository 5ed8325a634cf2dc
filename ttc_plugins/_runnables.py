"""Runnable helpers shared by the LangChain and LangGraph adapters, which both build on langchain-core.

They live here, outside both adapters, because the adapters never import each other.

- ``role_runnable``: what plays a strategy's role (critic, editor, feedback model, ...). A role may
  be a chat model (a dedicated model for the role: it gets the role's prompt), a Runnable or a
  function over the role's payload dict (used as is), or nothing (the strategy's own chat model,
  found inside the wrapped chain, gets the role's prompt).
- ``as_verifier_runnable``: any verifier as a Runnable over ``{"question", "candidate"}``.
- ``metered``: one sample, in a child budget of its own, with its spend.
- ``Binding``: how a family's call target runs on langchain-core (the Runnable, how a payload
  becomes its input, how its output becomes the reply the family's core reads).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableSequence

from ttc_plugins.budget import strategy_run_scope
from ttc_plugins.strategies.candidates import MeteredOutput, output_text

__all__ = [
    "Binding",
    "as_verifier_runnable",
    "metered",
    "model_of",
    "output_parser_of",
    "role_runnable",
    "texts_of",
]


@dataclass(frozen=True)
class Binding:
    """How a family's call target runs on langchain-core: its Runnable, how a payload becomes the
    Runnable's input (``render``) and how its output becomes the reply the core reads (``read``).

    A ``sampled`` target draws samples (repeated calls of one input that must differ): each call
    runs in a budget of its own and its reply is a :class:`MeteredOutput` with that call's tokens,
    so a candidate gets its exact tokens even from plain text; a driver may draw a step's identical
    calls as one request with ``n=`` choices where the model honours it.

    Example:
        >>> shout = Binding(RunnableLambda(str.upper), render=lambda payload: payload["text"])
        >>> shout.reply(shout.runnable.invoke(shout.input({"text": "hi"})))
        'HI'
    """

    runnable: Runnable[Any, Any]
    render: Callable[[Any], Any] | None = None
    read: Callable[[Any], Any] | None = None
    sampled: bool = False

    def input(self, payload: Any) -> Any:
        """The Runnable's input for a call's payload."""
        return self.render(payload) if self.render is not None else payload

    def reply(self, output: Any) -> Any:
        """The reply the core reads for the Runnable's output (a failure is passed on as it is)."""
        if self.read is None or isinstance(output, BaseException):
            return output
        return self.read(output)


def texts_of(*fields: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``render`` that turns the named output fields of a payload into text, for a textual step's prompt.

    Example:
        >>> texts_of("chosen")({"chosen": {"answer": "4"}, "gradient": "be brief"})
        {'chosen': '4', 'gradient': 'be brief'}
    """
    return lambda payload: {**payload, **{name: output_text(payload[name]) for name in fields}}


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


def as_verifier_runnable(verifier: Any) -> Runnable[dict[str, Any], Any]:
    """A Runnable over ``{"question", "candidate"}`` for any verifier (a Runnable is returned as is).

    A plain function becomes a traced child run; an async function (or an object with an async
    ``__call__``) is awaited under ``ainvoke`` and run to completion on a loop of its own under
    ``invoke`` (sync strategies run verification in worker threads, which have no event loop).

    Example:
        >>> check = as_verifier_runnable(lambda question, candidate: candidate == "4")
        >>> check.invoke({"question": "2 + 2?", "candidate": "4"})
        True
    """
    if isinstance(verifier, Runnable):
        return verifier
    if not callable(verifier):
        raise TypeError(f"a verifier must be a Runnable or a callable (question, candidate) -> score, got {verifier!r}")
    name = getattr(verifier, "__name__", type(verifier).__name__)
    if inspect.iscoroutinefunction(verifier) or inspect.iscoroutinefunction(type(verifier).__call__):

        async def ajudge(pair: dict[str, Any]) -> Any:
            return await verifier(pair["question"], pair["candidate"])

        def judge_blocking(pair: dict[str, Any]) -> Any:
            return asyncio.run(verifier(pair["question"], pair["candidate"]))

        return RunnableLambda(judge_blocking, afunc=ajudge, name=name)

    def judge(pair: dict[str, Any]) -> Any:
        return verifier(pair["question"], pair["candidate"])

    return RunnableLambda(judge, name=name)


def metered(runnable: Runnable[Any, Any]) -> Runnable[Any, MeteredOutput]:
    """``runnable`` run in a child budget of its own (a "sample" run), returning its output with that spend.

    What every sampling strategy wraps a sample in, so each candidate gets its exact tokens even when
    the chain ends in a parser and returns plain text.
    """

    def call(input: Any, config: RunnableConfig) -> MeteredOutput:
        with strategy_run_scope("sample") as budget:
            output = runnable.invoke(input, config)
        return MeteredOutput(output, budget.spent.input_tokens, budget.spent.output_tokens)

    async def acall(input: Any, config: RunnableConfig) -> MeteredOutput:
        with strategy_run_scope("sample") as budget:
            output = await runnable.ainvoke(input, config)
        return MeteredOutput(output, budget.spent.input_tokens, budget.spent.output_tokens)

    return RunnableLambda(call, afunc=acall, name="sample")
