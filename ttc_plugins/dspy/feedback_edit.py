"""Dedicated feedback and edit models as a DSPy module: draft, critique, rewrite, then judge them all.

Three roles that may run on three different models (``program.feedback.lm = ...``): a drafter, a feedback
model that writes specific, actionable feedback, and an edit model that rewrites a draft given one
feedback, plus a judge. Width scales each stage: ``drafts`` responses, ``feedbacks`` per draft, ``edits``
per feedback; every draft and edit is judged and the best-scored one returned, so a bad edit can never
beat its own draft. The stages, widths, events and stop reasons are the LangChain shell's. Calls are
charged by role: "drafter", "feedback", "editor", "judge".

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> replies = [
    ...     {"reasoning": "rain", "answer": "A haiku about rain"},  # the draft
    ...     {"feedback": "- Make it about snow."},  # the feedback
    ...     {"answer": "A haiku about snow"},  # the edit
    ... ]
    >>> def about_snow(inputs, prediction):
    ...     return "snow" in prediction.answer
    >>> solve = FeedbackEdit("task -> answer", judge=about_snow, drafts=1, feedbacks=1, edits=1)
    >>> with dspy.context(lm=DummyLM(replies)):
    ...     solve(task="Write a haiku about winter.").answer
    'A haiku about snow'
"""

from __future__ import annotations

from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._refine_signatures import (
    editor_signature,
    feedback_signature,
    fenced,
)
from ttc_plugins.dspy._stepped import (
    Call,
    StepLoop,
    StepRun,
    arun_in_scope,
    judged,
    prediction_of,
    run_in_scope,
    scorer_parts,
    version_of,
)
from ttc_plugins.results import Candidate, StopReason, TTCEvent
from ttc_plugins.strategies.candidates import scored_result
from ttc_plugins.strategies.options import check_count, check_feedback_edit_widths, check_temperature

__all__ = ["FeedbackEdit"]

_RUN_NAME = "feedback_edit"


class FeedbackEdit(dspy.Module):
    """Draft → feedback → edit → judge, each stage ``width`` wide; the best-judged version is returned.

    ``self.draft`` (a ``ChainOfThought`` of the signature), ``self.feedback`` (inputs and a draft →
    feedback) and ``self.edit`` (inputs, draft and feedback → the signature's outputs) are attributes,
    and so is ``self.judge`` when the judge is an LLM, so optimizers find and tune them all. The calls of
    a stage run in parallel; repeated requests (drafts of one question, feedbacks on one draft, edits from
    one feedback) each get their own ``rollout_id``.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        judge: ``"llm"`` for an LLM judge (``dspy.Predict`` of
            :class:`~ttc_plugins.dspy.judge.JudgeAnswer`: score 0-10, is_correct, critique, the candidate
            fenced as data), a judge signature or a ``dspy.Predict`` over one; or a function ``(inputs,
            prediction) -> Verdict | float | bool``, sync or async, which is not optimized.
        drafts / feedbacks / edits: the width of each stage; ``drafts * (1 + feedbacks * edits)`` versions
            are judged.
        answer_field: the output field reported as the result's ``answer`` (the signature's last by default).
        rubric: what "good" means to an LLM judge (only with one).
        temperature: the temperature of drafts, feedbacks and edits; None keeps the LM's own.
        num_threads: parallel calls per stage; DSPy's ``num_threads`` setting by default.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them (a
    predictor given its own LM keeps it). It returns a ``dspy.Prediction`` with the best version's fields
    and ``ttc_result``, the full :class:`~ttc_plugins.TTCResult`.

    Raises from a call:
        AllCandidatesFailed: no version could be drafted and judged (with the first failure).
        BudgetExceeded: the budget could not pay for even one draft and its judging.
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        judge: Any,
        drafts: int = 2,
        feedbacks: int = 2,
        edits: int = 2,
        answer_field: str | None = None,
        rubric: str | None = None,
        temperature: float | None = 0.7,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        answer_field = answer_field_of(signature, answer_field)
        self.drafts, self.feedbacks, self.edits = check_feedback_edit_widths(drafts, feedbacks, edits)
        self.num_threads = check_count(num_threads, name="num_threads", optional=True)
        self.temperature = check_temperature(temperature)
        self.draft = dspy.ChainOfThought(signature)
        self.feedback = dspy.Predict(feedback_signature(signature))
        self.edit = dspy.Predict(editor_signature(signature))
        self.judge, self.scorer, self.rubric = scorer_parts(judge, rubric)
        self.answer_field = answer_field

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(
            run_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature, num_threads=self.num_threads)
        )

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    def _loop(self, run: StepRun) -> StepLoop:
        drafted = yield run.ask("drafter", self.draft, [run.inputs] * self.drafts, sampled=True)
        versions = [version_of(call, index, self.answer_field) for index, call in enumerate(drafted)]
        made_by: dict[int, list[Call]] = {v.index: [call] for v, call in zip(versions, drafted, strict=True)}
        events = [TTCEvent(kind="draft", data={"index": c.index}) for c in versions]
        refused = any(c.budget_refused for c in versions)
        asks = [
            (draft, {**run.inputs, "draft": fenced(draft.output, "draft")})
            for draft in versions
            if draft.ok
            for _ in range(self.feedbacks)
        ]
        if asks and not refused:
            replies = yield run.ask("feedback", self.feedback, [payload for _, payload in asks], sampled=True)
            tasks = []
            for (draft, payload), reply in zip(asks, replies, strict=True):
                if reply.failed:
                    refused = refused or isinstance(reply.outcome, BudgetExceeded)
                    data = {"draft": draft.index, "error": repr(reply.outcome)}
                    events.append(TTCEvent(kind="feedback_failed", data=data))
                    continue
                feedback = str(reply.outcome.feedback)
                events.append(TTCEvent(kind="feedback", data={"draft": draft.index, "feedback": feedback}))
                tasks += [(draft, feedback, reply, {**payload, "feedback": feedback})] * self.edits
            if tasks and not refused:
                edited = yield run.ask("editor", self.edit, [payload for *_, payload in tasks], sampled=True)
                for (draft, feedback, reply, _), call in zip(tasks, edited, strict=True):
                    version = version_of(call, len(versions), self.answer_field)
                    data = {"index": version.index, "draft": draft.index, "feedback": feedback}
                    events.append(TTCEvent(kind="edit", data=data))
                    made_by[version.index] = [*made_by[draft.index], reply, call]
                    versions.append(version)
        return (yield from self._judged(run, versions, made_by, "budget" if refused else "done", events))

    def _judged(
        self,
        run: StepRun,
        versions: list[Candidate],
        made_by: dict[int, list[Call]],
        stop: StopReason,
        events: list[TTCEvent],
    ) -> StepLoop:
        pending = [c for c in versions if c.ok]
        scored_by: dict[int, Call] = {}
        if pending:
            scorings = yield run.score("judge", self.judge, self.scorer, self.rubric, [c.output for c in pending])
            scored_by = {c.index: call for c, call in zip(pending, scorings, strict=True)}
            versions = [judged(c, scored_by[c.index].outcome, step="verification") if c.ok else c for c in versions]
        if any(c.budget_refused for c in versions):
            stop = "budget"
        result = scored_result(versions, stop_reason=stop, events=events)
        return result, self._traces(versions[result.chosen], made_by, scored_by)

    @staticmethod
    def _traces(chosen: Candidate, made_by: dict[int, list[Call]], scored_by: dict[int, Call]) -> list[list[Any]]:
        """The steps that made the returned version: its draft (only when the draft itself won: a draft that
        needed fixing would teach the drafter a worse answer), the feedback and edit, and its judging."""
        calls = made_by[chosen.index]
        if len(calls) > 1:
            calls = calls[1:]
        return [call.trace for call in (*calls, scored_by[chosen.index])]
