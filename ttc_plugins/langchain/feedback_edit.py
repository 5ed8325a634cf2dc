"""Dedicated feedback and edit models: draft, critique, rewrite — then let a judge pick the best.

The inference-time-scaling design for open-ended tasks: three roles that may be three different
models — a drafter, a feedback model that writes specific, actionable feedback, and an edit model
that rewrites a draft given one feedback — plus a judge. Width scales each stage: ``drafts``
responses, ``feedbacks`` per draft, ``edits`` per feedback; every draft and edit is judged and the
best-scored one returned (so a bad edit can never beat its own draft). Calls are charged by role:
"drafter", "feedback", "editor", "judge".

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> from ttc_plugins.verifiers import programmatic
    >>> solver = feedback_edit(
    ...     RunnableLambda(lambda q: "A haiku about rain"),
    ...     feedback_model=RunnableLambda(lambda d: "Make it about snow."),
    ...     edit_model=RunnableLambda(lambda d: "A haiku about snow"),
    ...     judge=programmatic(lambda q, text: "snow" in text, on="output"),
    ...     drafts=1, feedbacks=1, edits=1,
    ... )
    >>> solver.invoke("Write a haiku about winter.")
    'A haiku about snow'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import output_parser_of, role_runnable
from ttc_plugins.langchain._stepped import Binding, SteppedStrategy, StrategyLoop, texts_of
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, question_text
from ttc_plugins.prompts import EDITOR_USER, FEEDBACK_USER
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.feedback_edit import feedback_edit_loop
from ttc_plugins.strategies.options import check_feedback_edit_widths

__all__ = ["FeedbackEdit", "feedback_edit"]

_NAME = "feedback_edit"


class FeedbackEdit(SteppedStrategy):
    """Draft → feedback → edit → judge, each stage ``width`` wide (build with :func:`feedback_edit`).

    Its stages and decisions are :func:`ttc_plugins.strategies.feedback_edit.feedback_edit_loop`'s;
    this binds the core's call targets to the drafter, the feedback and edit models and the judge.
    """

    drafter: Runnable[Any, Any]
    feedback_model: Runnable[Any, Any]
    edit_model: Runnable[Any, Any]
    judge: Runnable[Any, Any]
    drafts: int = 2
    feedbacks: int = 2
    edits: int = 2
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    name: str | None = Field(default=_NAME)

    def _bindings(self) -> Mapping[str, Binding]:
        return {
            "draft": Binding(self.drafter),
            "feedback": Binding(self.feedback_model, render=texts_of("draft"), read=output_text),
            "edit": Binding(self.edit_model, render=texts_of("draft")),
            "score": Binding(self.judge),
        }

    def _loop(self, input: Any) -> StrategyLoop:
        widths = {"drafts": self.drafts, "feedbacks": self.feedbacks, "edits": self.edits}
        return (yield from feedback_edit_loop(input, question=self.question(input), extract=self.extract, **widths))


def feedback_edit(
    drafter: Runnable[Any, Any],
    *,
    feedback_model: Any,
    edit_model: Any,
    judge: Any,
    drafts: int = 2,
    feedbacks: int = 2,
    edits: int = 2,
    question: QuestionFormatter = question_text,
    extract: AnswerExtractor | None = None,
    return_result: bool = False,
) -> FeedbackEdit:
    """Improve a drafter's responses with a dedicated feedback model and edit model, judged at the end.

    Args:
        drafter: produces a response from the input (a chat model or any chain); sample it with
            temperature > 0 so the drafts differ.
        feedback_model: a chat model (given the feedback prompt), or a Runnable or function over
            ``{"question", "draft"}`` returning feedback text.
        edit_model: a chat model (given the edit prompt; the drafter's output parser is reused), or a
            Runnable or function over ``{"question", "draft", "feedback"}`` returning the rewrite.
        judge: any verifier: ``llm_judge(model)``, ``programmatic(check)``, a function or a Runnable.
        drafts / feedbacks / edits: the width of each stage (``drafts * (1 + feedbacks * edits)``
            versions are judged).
        question: ``input -> question text`` for the feedback, edit and judge prompts.
        extract: ``output -> answer`` for the result's ``answer``.
        return_result: return the full TTCResult rather than the best version's output.

    Raises:
        ValueError: a width is not a positive integer, or the widths make more than 1,000 versions;
            when it runs, ``drafts`` above the budget's ``max_calls`` (they are drawn at once).
        AllCandidatesFailed: no version could be drafted and judged (with the first failure).
    """
    check_feedback_edit_widths(drafts, feedbacks, edits)
    return FeedbackEdit(
        drafter=drafter,
        feedback_model=role_runnable(feedback_model, role="feedback_model", template=FEEDBACK_USER, strategy=_NAME),
        edit_model=role_runnable(
            edit_model, role="edit_model", template=EDITOR_USER, strategy=_NAME, parser=output_parser_of(drafter)
        ),
        judge=as_verifier_runnable(judge),
        drafts=drafts, feedbacks=feedbacks, edits=edits,
        question=question, extract=extract, return_result=return_result,
    )  # fmt: skip
