"""Guarded self-refine as a DSPy module: draft → critique → edit → score, keeping the best version.

An edit is accepted only if the scorer does not rate it lower than the best version so far, so a run
can never end worse than its draft; it returns the best version, not the last, and stops for a named
reason: rounds, stops and versions are :func:`~ttc_plugins.strategies.refine.refine_loop`'s, as in the
LangChain shell. Calls are charged by role: "generator" (draft), "critic", "editor", "verifier" (scorer).
Only the calls in the returned version's lineage reach the caller's trace (its draft, or the critique
and edit that made it, its scoring, and the critique that found nothing left to fix), so
BootstrapFewShot learns from the steps that produced the answer, never from a rejected edit.

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
from functools import partial
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._refine_signatures import (
    critic_signature,
    editor_signature,
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
from ttc_plugins.prompts import critic_is_satisfied
from ttc_plugins.strategies.options import check_temperature
from ttc_plugins.strategies.refine import AcceptRule, RefineRules, refine_loop

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

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[dict[str, Any]]) -> Step:
        """The DSPy calls for one of the core's steps: its payloads as this module's signature fields."""
        if target == "draft":
            return run.ask(role, self.draft, [run.inputs] * len(payloads))
        if target == "score":
            return run.score(role, self.judge, self.scorer, self.rubric, [p["candidate"] for p in payloads])
        # A critique or an edit may repeat a request (the same best version again): sampled, its own rollout.
        shown = [{**run.inputs, "draft": fenced(p["draft"], "draft")} for p in payloads]
        if target == "critique":
            return run.ask(role, self.critic, shown, sampled=True)
        edits = [{**fields, "feedback": p["feedback"]} for fields, p in zip(shown, payloads, strict=True)]
        return run.ask(role, self.edit, edits, sampled=True)

    def _loop(self, run: StepRun) -> StepLoop:
        core = refine_loop(
            run.inputs,
            question=question_of(run.inputs),
            rules=self.rules,
            satisfied=self.satisfied,
            extract=lambda prediction: answer_of(prediction, self.answer_field),
        )
        return (yield from family_steps(core, partial(self._bind, run), reading({"critique": "feedback"})))
