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

from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import output_parser_of, role_runnable
from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, judged_candidate, question_text
from ttc_plugins.prompts import EDITOR_USER, FEEDBACK_USER
from ttc_plugins.results import Candidate, StopReason, TTCEvent
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, output_text, scored_result
from ttc_plugins.strategies.options import check_feedback_edit_widths

__all__ = ["FeedbackEdit", "feedback_edit"]


class FeedbackEdit(SteppedStrategy):
    """Draft → feedback → edit → judge, each stage ``width`` wide (build with :func:`feedback_edit`)."""

    drafter: Runnable[Any, Any]
    feedback_model: Runnable[Any, Any]
    edit_model: Runnable[Any, Any]
    judge: Runnable[Any, Any]
    drafts: int = 2
    feedbacks: int = 2
    edits: int = 2
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    name: str | None = Field(default="feedback_edit")

    def _loop(self, input: Any) -> StrategyLoop:
        question = self.question(input)
        drafted = yield ("drafter", self.drafter, [input] * self.drafts)
        versions = make_candidates(drafted, start=0, extract=self.extract)
        events = [TTCEvent(kind="draft", data={"index": c.index}) for c in versions]
        refused = any(c.budget_refused for c in versions)
        asks = [
            (draft, {"question": question, "draft": output_text(draft.output)})
            for draft in versions
            if draft.ok
            for _ in range(self.feedbacks)
        ]
        if asks and not refused:
            replies = yield ("feedback", self.feedback_model, [payload for _, payload in asks])
            tasks = []
            for (draft, payload), reply in zip(asks, replies, strict=True):
                if isinstance(reply, BaseException):
                    refused = refused or isinstance(reply, BudgetExceeded)
                    events.append(TTCEvent(kind="feedback_failed", data={"draft": draft.index, "error": repr(reply)}))
                    continue
                feedback = output_text(reply)
                events.append(TTCEvent(kind="feedback", data={"draft": draft.index, "feedback": feedback}))
                tasks += [(draft, feedback, {**payload, "feedback": feedback})] * self.edits
            if tasks and not refused:
                edited = yield ("editor", self.edit_model, [payload for *_, payload in tasks])
                for (draft, feedback, _), version in zip(
                    tasks, make_candidates(edited, start=len(versions), extract=self.extract), strict=True
                ):
                    data = {"index": version.index, "draft": draft.index, "feedback": feedback}
                    events.append(TTCEvent(kind="edit", data=data))
                    versions.append(version)
        return (yield from self._judged(question, versions, "budget" if refused else "done", events))

    def _judged(
        self, question: str, versions: list[Candidate], stop: StopReason, events: list[TTCEvent]
    ) -> StrategyLoop:
        pending = [c for c in versions if c.ok]
        if pending:
            verdicts = yield ("judge", self.judge, [{"question": question, "candidate": c.output} for c in pending])
            judged = {c.index: judged_candidate(c, v) for c, v in zip(pending, verdicts, strict=True)}
            versions = [judged.get(c.index, c) for c in versions]
        if any(c.budget_refused for c in versions):
            stop = "budget"
        return scored_result(versions, stop_reason=stop, events=events)


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
        ValueError: a width is not a positive integer, or the widths make more than 1,000 versions.
        AllCandidatesFailed: no version could be drafted and judged (with the first failure).
    """
    check_feedback_edit_widths(drafts, feedbacks, edits)
    return FeedbackEdit(
        drafter=drafter,
        feedback_model=role_runnable(
            feedback_model, role="feedback_model", template=FEEDBACK_USER, strategy="feedback_edit"
        ),
        edit_model=role_runnable(
            edit_model,
            role="edit_model",
            template=EDITOR_USER,
            strategy="feedback_edit",
            parser=output_parser_of(drafter),
        ),
        judge=as_verifier_runnable(judge),
        drafts=drafts,
        feedbacks=feedbacks,
        edits=edits,
        question=question,
        extract=extract,
        return_result=return_result,
    )
