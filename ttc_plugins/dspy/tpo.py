"""Test-time preference optimisation (TPO) as a DSPy module: improve responses with textual "gradients".

Each round samples ``samples`` responses and scores them. Between rounds, the best-scored response so far
is "chosen" and the worst "rejected" (:func:`~ttc_plugins.strategies.refine.preference_pair`); the
``loss`` predictor explains why chosen beats rejected, the ``gradient`` predictor turns that into concrete
suggestions, and the ``update`` predictor writes the next round's responses from the chosen one and the
suggestions. The result is the best-scored response over all rounds; each round's best score (the curve
the TPO paper reports) is in the ``round_best`` events and on the prediction as ``round_best_scores``.
Rounds, events and stop reasons are :func:`~ttc_plugins.strategies.tpo.tpo_loop`'s. Calls are charged
by role: "generator" (samples and updates), "verifier" (scorer), "critic" (loss and gradient).

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> replies = [
    ...     {"reasoning": "r", "answer": "short"},  # round 0: two samples
    ...     {"reasoning": "r", "answer": "a bit longer"},
    ...     {"analysis": "longer is better"},  # the loss
    ...     {"suggestions": "write more"},  # the gradient
    ...     {"answer": "the longest answer of all"},  # round 1: two updates
    ...     {"answer": "longer"},
    ... ]
    >>> def by_length(inputs, prediction):
    ...     return min(len(prediction.answer) / 30, 1.0)
    >>> solve = TPO("question -> answer", scorer=by_length, samples=2, rounds=1, num_threads=1)
    >>> with dspy.context(lm=DummyLM(replies)):
    ...     prediction = solve(question="Describe the sea.")
    >>> prediction.answer, prediction.round_best_scores
    ('the longest answer of all', [0.4, 0.8333333333333334])
"""

from __future__ import annotations

from functools import partial
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._refine_signatures import (
    fenced,
    gradient_signature,
    loss_signature,
    update_signature,
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
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.options import check_count, check_sample_count, check_temperature
from ttc_plugins.strategies.tpo import tpo_loop

__all__ = ["TPO"]

_RUN_NAME = "tpo"


class TPO(dspy.Module):
    """Sample, score, and rewrite from textual preference feedback, returning the best response of all rounds.

    ``self.generate`` (a ``ChainOfThought`` of the signature), ``self.loss`` (inputs and the better and
    worse responses with their scores → analysis), ``self.gradient`` (inputs and analysis → suggestions)
    and ``self.update`` (inputs, the best response and the suggestions → the signature's outputs) are
    attributes, so optimizers find and tune them. A round's samples run in parallel, each with its own
    ``rollout_id``.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        scorer: a function ``(inputs, prediction) -> Verdict | float | bool`` (scores in [0, 1]; sync or
            async; not optimized), or an LLM judge that is optimized with the rest (``"llm"``, a judge
            signature, or a ``dspy.Predict`` over one; stored as ``self.judge``), the paper's reward model.
        samples: responses per round (at least 2: a chosen and a rejected one).
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        answer_field: the output field reported as the result's ``answer`` (the signature's last by default).
        rubric: what "good" means to an LLM judge (only with one).
        temperature: the temperature of samples and updates; None keeps the LM's own.
        num_threads: parallel calls per round; DSPy's ``num_threads`` setting by default.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them. It
    returns a ``dspy.Prediction`` with the best response's fields, ``round_best_scores`` (round 0 is the
    first sampling; None for a round with nothing scored) and ``ttc_result``, the full
    :class:`~ttc_plugins.TTCResult`.

    Raises from a call:
        AllCandidatesFailed: no response could be generated and scored (with the first failure).
        BudgetExceeded: the budget could not pay for even one response and its scoring.
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        scorer: Any,
        samples: int = 4,
        rounds: int = 2,
        answer_field: str | None = None,
        rubric: str | None = None,
        temperature: float | None = 0.7,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        answer_field = answer_field_of(signature, answer_field)
        self.samples = check_sample_count(samples, name="samples", minimum=2)  # a chosen and a rejected response
        self.rounds = check_count(rounds, name="rounds", minimum=0)
        self.num_threads = check_count(num_threads, name="num_threads", optional=True)
        self.temperature = check_temperature(temperature)
        self.generate = dspy.ChainOfThought(signature)
        self.loss = dspy.Predict(loss_signature(signature))
        self.gradient = dspy.Predict(gradient_signature(signature))
        self.update = dspy.Predict(update_signature(signature))
        self.judge, self.scorer, self.rubric = scorer_parts(scorer, rubric)
        self.answer_field = answer_field

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return self._finish(
            run_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature, num_threads=self.num_threads)
        )

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return self._finish(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    @staticmethod
    def _finish(result: TTCResult) -> dspy.Prediction:
        scores = [event.data["best_score"] for event in result.events if event.kind == "round_best"]
        return prediction_of(result, round_best_scores=scores)

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[dict[str, Any]]) -> Step:
        """The DSPy calls for one of the core's steps: its payloads as this module's signature fields."""
        if target == "generate":
            return run.ask(role, self.generate, [run.inputs] * len(payloads), sampled=True)
        if target == "score":
            return run.score(role, self.judge, self.scorer, self.rubric, [p["candidate"] for p in payloads])
        if target == "loss":
            compared = [
                {**run.inputs, "better_response": fenced(p["chosen"], "better"), "better_score": p["chosen_score"],
                 "worse_response": fenced(p["rejected"], "worse"), "worse_score": p["rejected_score"]}
                for p in payloads
            ]  # fmt: skip
            return run.ask(role, self.loss, compared)
        if target == "gradient":
            return run.ask(role, self.gradient, [{**run.inputs, "analysis": p["loss"]} for p in payloads])
        updates = [
            {**run.inputs, "best_response": fenced(p["chosen"], "best"), "suggestions": p["gradient"]} for p in payloads
        ]
        return run.ask(role, self.update, updates, sampled=True)

    def _loop(self, run: StepRun) -> StepLoop:
        question = question_of(run.inputs)
        core = tpo_loop(
            run.inputs,
            question=question,
            samples=self.samples,
            rounds=self.rounds,
            extract=lambda prediction: answer_of(prediction, self.answer_field),
        )
        return (
            yield from family_steps(
                core, partial(self._bind, run), reading({"loss": "analysis", "gradient": "suggestions"})
            )
        )
