"""Dedicated feedback and edit models as a DSPy module: draft, critique, rewrite, then judge them all.

Three roles that may run on three different models (``program.feedback.lm = ...``): a drafter, a feedback
model that writes specific, actionable feedback, and an edit model that rewrites a draft given one
feedback, plus a judge. Width scales each stage: ``drafts`` responses, ``feedbacks`` per draft, ``edits``
per feedback; every draft and edit is judged and the best-scored one returned, so a bad edit can never
beat its own draft. The stages, widths, events and stop reasons are
:func:`~ttc_plugins.strategies.feedback_edit.feedback_edit_loop`'s, as in every shell. Calls are
charged by role: "drafter", "feedback", "editor", "judge". Only the calls in the winner's lineage reach
the caller's trace: a winning draft and its judging, or a winning edit's feedback, edit and judging (not
the draft it fixed, which would teach the drafter a worse answer).

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

from functools import partial
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._refine_signatures import (
    editor_signature,
    feedback_signature,
    fenced,
)
from ttc_plugins.dspy._stepped import (
    Step,
    StepLoop,
    StepRun,
    answer_of,
    arun_in_scope,
    family_steps,
    prediction_of,
    question_of,
    reading,
    run_in_scope,
    scorer_parts,
)
from ttc_plugins.strategies.feedback_edit import feedback_edit_loop
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

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[dict[str, Any]]) -> Step:
        """The DSPy calls for one of the core's steps: its payloads as this module's signature fields."""
        if target == "score":
            return run.score(role, self.judge, self.scorer, self.rubric, [p["candidate"] for p in payloads])
        # Every other stage repeats requests (drafts of one task, feedbacks on one draft): sampled.
        if target == "draft":
            return run.ask(role, self.draft, [run.inputs] * len(payloads), sampled=True)
        shown = [{**run.inputs, "draft": fenced(p["draft"], "draft")} for p in payloads]
        if target == "feedback":
            return run.ask(role, self.feedback, shown, sampled=True)
        edits = [{**fields, "feedback": p["feedback"]} for fields, p in zip(shown, payloads, strict=True)]
        return run.ask(role, self.edit, edits, sampled=True)

    def _loop(self, run: StepRun) -> StepLoop:
        core = feedback_edit_loop(
            run.inputs,
            question=question_of(run.inputs),
            drafts=self.drafts,
            feedbacks=self.feedbacks,
            edits=self.edits,
            extract=lambda prediction: answer_of(prediction, self.answer_field),
        )
        return (yield from family_steps(core, partial(self._bind, run), reading({"feedback": "feedback"})))
