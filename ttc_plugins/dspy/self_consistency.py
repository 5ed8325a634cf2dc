"""Self-consistency as a DSPy module: sample a signature up to n times and return the majority answer's prediction.

The sampler is an attribute (``self.generate``), so DSPy optimizers find it and tune it like any other
predictor. Samples reuse that one predictor and differ only in ``rollout_id`` (DSPy's cache would
otherwise return one answer n times), so BootstrapFewShot traces map back to it; nothing is
deep-copied. Waves, stop reasons and votes are
:func:`ttc_plugins.strategies.sampling.self_consistency_loop`'s.

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> from ttc_plugins.dspy import SelfConsistency
    >>> replies = [{"reasoning": "3 + 4", "answer": answer} for answer in ("7", "8", "7")]
    >>> solve = SelfConsistency("question -> answer", n=3, num_threads=1)
    >>> with dspy.context(lm=DummyLM(replies)):
    ...     prediction = solve(question="What is 3 + 4?")
    >>> prediction.answer, [c.votes for c in prediction.ttc_result.candidates]
    ('7', [2, 1, 2])
"""

from __future__ import annotations

from functools import partial
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._stepped import (
    StepLoop,
    StepRun,
    answer_of,
    arun_in_scope,
    draw_samples,
    family_steps,
    prediction_of,
    read_sample,
    run_in_scope,
)
from ttc_plugins.strategies.options import check_count, check_temperature
from ttc_plugins.strategies.sampling import self_consistency_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SelfConsistency"]

_RUN_NAME = "self_consistency"


class SelfConsistency(dspy.Module):
    """Answer a signature by majority vote over up to ``n`` sampled predictions.

    Each wave's samples run in parallel; a sample that raises (an unparseable reply, a provider
    error, a refused budget) becomes a failed candidate and the others vote. Every call is charged to
    a child of the current budget (a fresh one outside any ``budget_scope``); when the budget refuses
    a sample the run stops and votes over what it has (``stop_reason="budget"``).

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        n: the most samples to draw.
        adaptive: stop once the vote is settled: ``True`` for the rule that never changes the outcome,
            or an :class:`~ttc_plugins.strategies.select.AdaptiveStop` to choose the rule.
        wave_size: samples per round when ``adaptive`` (default 2).
        answer_field: the output field voted on (the signature's last by default); its final answer is
            extracted ("Answer: ...", ``\\boxed{}``, a last number), else its whole stripped text is voted on.
        same: answer equivalence for counting votes.
        chain_of_thought: sample with ``dspy.ChainOfThought`` (else ``dspy.Predict``).
        temperature: sampling temperature per call; None keeps the LM's own.
        num_threads: parallel samples per wave; DSPy's ``num_threads`` setting by default.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them.
    Returns from a call: a ``dspy.Prediction`` with the winning sample's output fields and
    ``ttc_result``, the full :class:`~ttc_plugins.TTCResult` (candidates, votes, spend, stop reason).

    Raises from a call:
        AllCandidatesFailed: every sample raised (the message includes the first failure).
        BudgetExceeded: the budget could not pay for even one sample.
    """

    def __init__(
        self,
        signature: str | type[Signature],
        n: int = 8,
        *,
        adaptive: bool | AdaptiveStop = False,
        wave_size: int | None = None,
        answer_field: str | None = None,
        same: AnswerMatcher = same_answer,
        chain_of_thought: bool = True,
        temperature: float | None = 0.7,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        self.adaptive = AdaptiveStop() if adaptive is True else (adaptive or None)
        SamplingPlan(n, wave_size=wave_size, adaptive=self.adaptive, same=same)  # bad options fail here
        self.n, self.wave_size, self.same = n, wave_size, same
        self.answer_field = answer_field_of(signature, answer_field)
        self.temperature = check_temperature(temperature)
        self.num_threads = check_count(num_threads, name="num_threads", optional=True)
        self.generate = dspy.ChainOfThought(signature) if chain_of_thought else dspy.Predict(signature)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        options = {"temperature": self.temperature, "num_threads": self.num_threads}
        return prediction_of(run_in_scope(_RUN_NAME, self._loop, inputs, **options))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    def _loop(self, run: StepRun) -> StepLoop:
        core = self_consistency_loop(
            run.inputs, n=self.n, adaptive=self.adaptive, wave_size=self.wave_size, same=self.same,
            extract=lambda prediction: answer_of(prediction, self.answer_field),
        )  # fmt: skip
        return (yield from family_steps(core, partial(draw_samples, run, self.generate), read_sample))
