"""Guarded self-refine as a DSPy module: draft → critique → edit → score, keeping the best version.

An edit is accepted only if the scorer does not rate it lower than the best version so far, so a run
can never end worse than its draft; it returns the best version, not the last, and stops for a named
reason (see :mod:`ttc_plugins.strategies.refine`), as the LangChain shell does. Calls are charged by
role: "generator" (draft), "critic", "editor", "verifier" (scorer).

How it differs from ``dspy.Refine(module, N, reward_fn, threshold)``: ``dspy.Refine`` re-runs the whole
module up to N times, each time with an LLM-written hint from an ``OfferFeedback`` call, until the reward
reaches the threshold, and keeps the best-rewarded attempt. Here a critic and an editor are separate,
optimizable predictors that work on one chain of versions: each edit rewrites the best version so far
with the critic's feedback, and is kept only if it scores no lower (``accept="not_lower"``), so a
refinement can never replace a better answer. ``dspy.Refine`` has no budget; here every call, the
scorer's included, is charged to one, and a refused call stops the run with ``stop_reason="budget"`` and
the best version so far. Every stop has a named reason, and a failure is raised or recorded, never
turned into ``None`` (as some ``dspy.Refine`` versions do when every attempt fails).

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> def is_seven(inputs, prediction):
    ...     return prediction.answer == "7"
    >>> replies = [
    ...     {"reasoning": "3 + 4 = 8", "answer": "8"},  # the draft
    ...     {"feedback": "3 + 4 is 7, not 8."},  # the critic
    ...     {"answer": "7"},  # the editor
    ...     {"feedback": "NO ISSUES"},  # the critic, on the edit
    ... ]
    >>> solve = Refine("question -> answer", scorer=is_seven)
    >>> with dspy.context(lm=DummyLM(replies)):
    ...     prediction = solve(question="What is 3 + 4?")
    >>> prediction.answer, prediction.ttc_result.stop_reason, [c.score for c in prediction.ttc_result.candidates]
    ('7', 'converged', [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._refine_signatures import (
    critic_signature,
    editor_signature,
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
from ttc_plugins.prompts import critic_is_satisfied
from ttc_plugins.results import Candidate, TTCEvent
from ttc_plugins.strategies.options import check_temperature
from ttc_plugins.strategies.refine import AcceptRule, RefineRules, RefineTracker

__all__ = ["Refine"]

_RUN_NAME = "refine"


class Refine(dspy.Module):
    """Refine a signature's answer in guarded rounds of critique and edit, returning the best version.

    ``self.draft`` (a ``ChainOfThought`` of the signature), ``self.critic`` (the signature's inputs and
    the draft → feedback, ``NO ISSUES`` when satisfied) and ``self.edit`` (inputs, draft and feedback →
    the signature's outputs) are attributes, so optimizers find and tune all three. The version shown to
    the critic and the editor is fenced as data. A critique or edit that fails costs its round, not the run.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        scorer: a function ``(inputs, prediction) -> Verdict | float | bool`` (scores in [0, 1]; sync or
            async; a ``dspy.Module`` with such a ``forward`` works too and, like ``dspy.Refine``'s
            ``reward_fn``, is not optimized), or an LLM judge that is optimized with the rest: ``"llm"``, a
            judge signature (see :mod:`ttc_plugins.dspy.judge`), or a ``dspy.Predict``/``ChainOfThought``
            over one; it is stored as ``self.judge``. Use a programmatic check where you have one: a small
            model judging itself is a weak guard.
        max_rounds: the most critique → edit rounds.
        accept: ``"not_lower"`` (ties pass) or ``"higher"`` (strict gain) to accept an edit.
        patience: stop after this many rounds in a row without an accepted edit (None: never).
        threshold: stop once the best score reaches this (in [0, 1]).
        answer_field: the output field reported as the result's ``answer`` (the signature's last by default).
        rubric: what "good" means to an LLM judge (only with one).
        satisfied: ``feedback -> bool``, whether the critic found nothing to fix.
        temperature: the temperature of critiques and edits, which may repeat a request (a second
            critique of a draft an edit failed to beat); None keeps the LM's own.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them (a
    predictor given its own LM, e.g. ``program.critic.lm = ...``, keeps it). It returns a
    ``dspy.Prediction`` with the best version's fields and ``ttc_result``, the full
    :class:`~ttc_plugins.TTCResult` (every version with its score, the events, the spend, the stop reason).

    Raises from a call:
        BudgetExceeded: the budget could not pay for the draft.
        Exception: the draft itself failed (there is nothing to refine or return).
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        scorer: Any,
        max_rounds: int = 3,
        accept: AcceptRule = "not_lower",
        patience: int | None = 2,
        threshold: float | None = None,
        answer_field: str | None = None,
        rubric: str | None = None,
        satisfied: Callable[[str], bool] = critic_is_satisfied,
        temperature: float | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        answer_field = answer_field_of(signature, answer_field)
        self.rules = RefineRules(max_rounds=max_rounds, accept=accept, patience=patience, threshold=threshold)
        self.draft = dspy.ChainOfThought(signature)
        self.critic = dspy.Predict(critic_signature(signature))
        self.edit = dspy.Predict(editor_signature(signature))
        self.judge, self.scorer, self.rubric = scorer_parts(scorer, rubric)
        self.answer_field = answer_field
        self.satisfied = satisfied
        self.temperature = check_temperature(temperature)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(run_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    def _scored(self, made: Call, index: int, scoring: Call) -> Candidate:
        return judged(version_of(made, index, self.answer_field), scoring.outcome, step="scoring")

    def _loop(self, run: StepRun) -> StepLoop:
        """The refine loop (the protocol of :class:`~ttc_plugins.strategies.refine.RefineTracker`)."""
        tracker = RefineTracker(self.rules)
        (drafted,) = yield run.ask("generator", self.draft, [run.inputs])
        if drafted.failed:
            raise drafted.outcome  # nothing to refine and nothing to return
        (scoring,) = yield run.score("verifier", self.judge, self.scorer, self.rubric, [drafted.outcome])
        tracker.add_draft(first := self._scored(drafted, 0, scoring))
        if first.budget_refused:
            tracker.stop_for_budget()
        # The critique and edit calls that made each version, and each version's scoring call.
        made_by: dict[int, list[Call]] = {0: []}
        scored_by = {0: scoring}
        satisfied_by: Call | None = None
        while tracker.start_round():
            base = tracker.best
            shown = fenced(base.output, "draft")
            (critique,) = yield run.ask("critic", self.critic, [{**run.inputs, "draft": shown}], sampled=True)
            if isinstance(critique.outcome, BudgetExceeded):
                tracker.stop_for_budget()
                break
            index = len(tracker.versions)
            if critique.failed:
                error = f"critique failed: {type(critique.outcome).__name__}: {critique.outcome}"
                tracker.consider_edit(Candidate(index=index, error=error))
                continue
            feedback = str(critique.outcome.feedback)
            tracker.events.append(TTCEvent(kind="critique", data={"round": tracker.rounds, "critique": feedback}))
            if self.satisfied(feedback):
                tracker.critic_satisfied()
                satisfied_by = critique
                break
            payload = {**run.inputs, "draft": shown, "feedback": feedback}
            (edited,) = yield run.ask("editor", self.edit, [payload], sampled=True)
            if isinstance(edited.outcome, BudgetExceeded):
                tracker.stop_for_budget()
                break
            if edited.failed:
                error = f"edit failed: {type(edited.outcome).__name__}: {edited.outcome}"
                tracker.consider_edit(Candidate(index=index, error=error))
                continue
            (scoring,) = yield run.score("verifier", self.judge, self.scorer, self.rubric, [edited.outcome])
            tracker.consider_edit(version := self._scored(edited, index, scoring))
            made_by[index], scored_by[index] = [*made_by[base.index], critique, edited], scoring
            if version.budget_refused:
                tracker.stop_for_budget()
        result = tracker.result()
        return result, self._traces(tracker, drafted, made_by, scored_by, satisfied_by)

    @staticmethod
    def _traces(
        tracker: RefineTracker,
        drafted: Call,
        made_by: dict[int, list[Call]],
        scored_by: dict[int, Call],
        satisfied_by: Call | None,
    ) -> list[list[Any]]:
        """The steps that made the returned version, for BootstrapFewShot to learn from.

        The critiques and edits on its chain (each one an improvement the scorer accepted), its scoring,
        the critic's final "no issues", and the draft only when no version scored higher than it: a draft
        the editor had to fix would teach the drafter a wrong answer.
        """
        best, draft = tracker.best, tracker.versions[0]
        calls = list(made_by[best.index])
        draft_is_as_good = best.index == 0 or (
            draft.score is not None and best.score is not None and draft.score >= best.score
        )
        if draft_is_as_good:
            calls.insert(0, drafted)
        calls.append(scored_by[best.index])
        if satisfied_by is not None:
            calls.append(satisfied_by)
        return [call.trace for call in calls]
