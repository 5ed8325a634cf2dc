"""Proposal prompting for any chat model: chain-of-thought, chain-of-draft, step-back, analogical.

Each function wraps a chat model (or any Runnable that takes chat messages) and returns a Runnable
that takes a question string or ``{"question": ...}`` and returns the model's output (its message).
They are modifiers, so they compose with every other strategy, and the saving multiplies:
``self_consistency(chain_of_draft(llm), n=8)`` samples eight short drafts instead of eight long
chains of thought. The messages come from :mod:`ttc_plugins.strategies.draft`.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from ttc_plugins.answers import extract_answer
    >>> reply = chain_of_draft(FakeListChatModel(responses=["3 + 4 = 7.\\n#### 7"])).invoke("What is 3 + 4?")
    >>> extract_answer(reply.content)
    '7'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnableSequence
from pydantic import Field

from ttc_plugins._runnables import Binding
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.draft import (
    ChatMessage,
    WorkedExample,
    analogical_messages,
    chain_of_draft_messages,
    chain_of_thought_messages,
    step_back_answer_messages,
    step_back_principle_messages,
)
from ttc_plugins.strategies.step_back import step_back_loop

__all__ = ["StepBack", "analogical", "chain_of_draft", "chain_of_thought", "question_of", "step_back"]


def question_of(input: Any) -> str:
    """The question in a prompting transform's input: the string itself or its ``"question"`` field.

    Example:
        >>> question_of({"question": "What is 2 + 2?"})
        'What is 2 + 2?'
    """
    if isinstance(input, str):
        return input
    if isinstance(input, Mapping) and isinstance(input.get("question"), str):
        return input["question"]
    raise TypeError(f"a prompting transform takes a question string or {{'question': str}}, got {input!r}")


def _prompted(name: str, build: Callable[[str], list[ChatMessage]], llm: Runnable[Any, Any]) -> Runnable[Any, Any]:
    if not isinstance(llm, Runnable):
        raise TypeError(f"{name}() wraps a chat model or a Runnable that takes chat messages, got {llm!r}")
    prompt = RunnableLambda(lambda input: build(question_of(input)), name=f"{name}_prompt")
    # A plain sequence (not a binding), so strategies that look for the chat model inside a chain
    # (refine's default critic and editor) still find it.
    return RunnableSequence(prompt, llm, name=name)


def chain_of_thought(
    llm: Runnable[Any, Any], *, few_shot: bool = False, examples: Sequence[WorkedExample] | None = None
) -> Runnable[Any, Any]:
    """Ask ``llm`` to think step by step and end with ``Answer: <answer>``.

    Args:
        llm: a chat model, or a Runnable that takes a list of chat messages.
        few_shot: show worked examples first (the built-in ones, or ``examples``).
        examples: ``(question, solution)`` pairs, each solution ending with ``Answer: <answer>``.
    """
    chain_of_thought_messages("", few_shot=few_shot, examples=examples)  # bad examples fail here, not per call
    return _prompted(
        "chain_of_thought", lambda q: chain_of_thought_messages(q, few_shot=few_shot, examples=examples), llm
    )


def chain_of_draft(
    llm: Runnable[Any, Any], *, few_shot: bool = True, examples: Sequence[WorkedExample] | None = None
) -> Runnable[Any, Any]:
    """Ask ``llm`` for a minimal draft per step (five words at most) and the answer after ``####``.

    Args:
        llm: a chat model, or a Runnable that takes a list of chat messages.
        few_shot: show worked drafts first; on by default because zero-shot CoD degrades on small models.
        examples: ``(question, draft)`` pairs, each draft ending with ``#### <answer>``.
    """
    chain_of_draft_messages("", few_shot=few_shot, examples=examples)
    return _prompted("chain_of_draft", lambda q: chain_of_draft_messages(q, few_shot=few_shot, examples=examples), llm)


def analogical(llm: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """Ask ``llm`` to recall a related problem and its solution, then solve the question the same way."""
    return _prompted("analogical", analogical_messages, llm)


class StepBack(SteppedStrategy):
    """Asks for the general principle, then answers with it (build with :func:`step_back`)."""

    principle: Runnable[Any, Any]
    answer: Runnable[Any, Any]
    extract: AnswerExtractor | None = None
    name: str | None = Field(default="step_back")

    def _bindings(self) -> Mapping[str, Binding]:
        return {
            "principle": Binding(self.principle, render=lambda payload: payload["question"]),
            "answer": Binding(self.answer, render=lambda p: {"question": p["question"], "principle": p["principle"]}),
        }

    def _loop(self, input: Any) -> StrategyLoop:
        return (yield from step_back_loop(input, question=question_of(input), extract=self.extract))


def step_back(
    llm: Runnable[Any, Any],
    *,
    principle_model: Runnable[Any, Any] | None = None,
    extract: AnswerExtractor | None = None,
    return_result: bool = False,
) -> StepBack:
    """Step-back prompting in two calls: the principle (role "step_back"), then the answer ("generator").

    Args:
        llm: a chat model, or a Runnable that takes a list of chat messages; it writes the answer.
        principle_model: writes the principle instead of ``llm`` (e.g. a larger model).
        extract: ``output -> answer`` for the result's ``answer``.
        return_result: return the TTCResult (its events hold the principle) instead of the answer.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> llm = FakeListChatModel(responses=["Addition combines amounts.", "3 + 4 = 7.\\nAnswer: 7"])
        >>> result = step_back(llm).with_result().invoke("What is 3 + 4?")
        >>> result.answer, result.events[0].data["principle"]
        ('7', 'Addition combines amounts.')
    """
    for name, model in (("llm", llm), ("principle_model", principle_model)):
        if model is not None and not isinstance(model, Runnable):
            raise TypeError(f"step_back() {name} must be a chat model or a Runnable over chat messages, got {model!r}")
    principle = RunnableLambda(step_back_principle_messages, name="step_back_principle_prompt")
    answer = RunnableLambda(
        lambda payload: step_back_answer_messages(payload["question"], payload["principle"]), name="step_back_prompt"
    )
    return StepBack(
        principle=principle | (principle_model or llm),
        answer=answer | llm,
        extract=extract,
        return_result=return_result,
    )
