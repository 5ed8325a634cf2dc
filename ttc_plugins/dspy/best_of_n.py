"""Best-of-N as a DSPy module: sample a signature up to n times, verify each prediction, return the best.

Three ways to select (:func:`ttc_plugins.strategies.sampling.best_of_n_loop` decides, for every shell):
the single highest-scored prediction; with ``threshold``, the first one scored at least that high
(sampling in waves stops there); with ``weighted=True``, the answer whose predictions' scores sum highest.

How it differs from ``dspy.BestOfN(module, N, reward_fn, threshold)``:

- samples run in parallel waves (a thread pool, or ``asyncio.gather`` in ``acall``), not one by one,
  and each wave's usable samples are then verified in parallel;
- the verifier returns a :class:`~ttc_plugins.Verdict` (score, is_correct, critique), a float or a bool,
  or is an LLM judge that is itself an optimizable predictor (``self.judge``); a verifier's garbage or
  exception fails that one candidate, visibly, instead of being printed and skipped;
- nothing is deep-copied: samples reuse ``self.generate`` with distinct ``rollout_id`` values, so
  BootstrapFewShot and other optimizers map the traced steps back to this module's predictors;
- every call, the judge's included, is charged to one budget and stops at its limits;
- the prediction carries ``ttc_result``, the full :class:`~ttc_plugins.TTCResult` (every candidate with
  its verdict and tokens, the spend, the stop reason), and nothing silently comes back as ``None``.

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> from ttc_plugins.dspy import BestOfN
    >>> def is_seven(inputs, prediction):
    ...     return prediction.answer == "7"
    >>> solve = BestOfN("question -> answer", n=2, verifier=is_seven, num_threads=1)
    >>> with dspy.context(lm=DummyLM([{"reasoning": "3 + 4", "answer": a} for a in ("8", "7")])):
    ...     prediction = solve(question="What is 3 + 4?")
    >>> prediction.answer, [c.score for c in prediction.ttc_result.candidates]
    ('7', [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy._stepped import (
    FunctionScorer,
    Step,
    StepLoop,
    StepRun,
    answer_of,
    arun_in_scope,
    draw_samples,
    family_steps,
    prediction_of,
    question_of,
    read_sample,
    run_in_scope,
)
from ttc_plugins.dspy.judge import JudgeAnswer, check_judge_signature
from ttc_plugins.prompts import JUDGE_DEFAULT_RUBRIC
from ttc_plugins.results import Verdict
from ttc_plugins.strategies.options import check_count, check_temperature
from ttc_plugins.strategies.sampling import best_of_n_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan

__all__ = ["BestOfN", "PredictionVerifier"]

PredictionVerifier = Callable[[dict[str, Any], dspy.Prediction], "Verdict | float | bool"]
"""``(inputs, prediction) -> Verdict | float in [0, 1] | bool``: the signature's inputs and one sample."""

_RUN_NAME = "best_of_n"


class BestOfN(dspy.Module):
    """Answer a signature with the best of up to ``n`` sampled, verified predictions.

    Each wave's samples are drawn in parallel, then its usable ones verified in parallel. A sample or a
    verification that fails (an unparseable reply, a provider error, a verifier's exception or garbage,
    a judge reply without a valid score) fails that candidate only: it is kept in the result, marked,
    and left out of the selection. Every call is charged to a child of the current budget (a fresh one
    outside any ``budget_scope``), the verifier's under the role "verifier"; when the budget refuses a
    sample or a verification the run stops and selects among what it has verified
    (``stop_reason="budget"``).

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        n: the most samples to draw.
        verifier: a plain function ``(inputs, prediction) -> Verdict | float | bool`` (scores in [0, 1];
            an async function works too), or ``"llm"`` for an LLM judge ``self.judge =
            dspy.Predict(JudgeAnswer)``, or your own judge signature (inputs ``candidate`` and optionally
            ``question`` and ``rubric``; output ``score`` from 0 to 10). The judge uses its own LM when it
            has one (``program.judge.lm = ...``), else the call's or the configured one.
        threshold: stop at the first candidate scored at least this (in [0, 1]) and choose it; samples in waves.
        weighted: choose the answer with the highest summed score instead of the single best sample.
        wave_size: samples per wave when ``threshold`` is set (default 2).
        answer_field: the output field whose answer is compared for ``weighted`` and reported as the
            result's ``answer`` (the signature's last by default).
        same: answer equivalence for ``weighted``.
        rubric: what "good" means to the LLM judge; by default, a correct final answer supported by its reasoning.
        chain_of_thought: sample with ``dspy.ChainOfThought`` (else ``dspy.Predict``).
        temperature: sampling temperature per call; None keeps the LM's own.
        num_threads: parallel samples per wave; DSPy's ``num_threads`` setting by default.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them (both
    apply to the samples; the judge gets ``lm`` only when it has no LM of its own).
    Returns from a call: a ``dspy.Prediction`` with the chosen sample's output fields and ``ttc_result``,
    the full :class:`~ttc_plugins.TTCResult` (candidates with verdicts, spend, stop reason).

    Raises from a call:
        AllCandidatesFailed: no sample could be generated and verified (with the first failure).
        BudgetExceeded: the budget could not pay for even one sample and its verification.
    """

    def __init__(
        self,
        signature: str | type[Signature],
        n: int = 8,
        *,
        verifier: PredictionVerifier | str | type[Signature],
        threshold: float | None = None,
        weighted: bool = False,
        wave_size: int | None = None,
        answer_field: str | None = None,
        same: AnswerMatcher = same_answer,
        rubric: str | None = None,
        chain_of_thought: bool = True,
        temperature: float | None = 0.7,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        SamplingPlan(n, wave_size=wave_size, threshold=threshold, same=same)  # bad options fail here
        self.n, self.threshold, self.weighted, self.wave_size, self.same = n, threshold, weighted, wave_size, same
        self.answer_field = answer_field_of(signature, answer_field)
        self.temperature = check_temperature(temperature)
        self.num_threads = check_count(num_threads, name="num_threads", optional=True)
        self.generate = dspy.ChainOfThought(signature) if chain_of_thought else dspy.Predict(signature)
        self.judge: dspy.Predict | None = None
        self.verifier: FunctionScorer | None = None
        if verifier == "llm" or (isinstance(verifier, type) and issubclass(verifier, Signature)):
            judge_signature = JudgeAnswer if verifier == "llm" else verifier
            check_judge_signature(judge_signature)
            self.judge = dspy.Predict(judge_signature)  # an attribute: optimizers tune it with the generator
        elif callable(verifier) and not isinstance(verifier, str):
            if rubric is not None:
                raise ValueError("rubric is for the LLM judge (verifier='llm'); a function verifier has its own checks")
            self.verifier = FunctionScorer(verifier)  # a plain object: optimizers never see a module inside it
        else:
            raise TypeError(
                "verifier must be a function (inputs, prediction) -> Verdict | float | bool, 'llm', "
                f"or a judge signature, got {verifier!r}"
            )
        self.rubric = rubric or JUDGE_DEFAULT_RUBRIC

    def forward(self, **inputs: Any) -> dspy.Prediction:
        options = {"temperature": self.temperature, "num_threads": self.num_threads}
        return prediction_of(run_in_scope(_RUN_NAME, self._loop, inputs, **options))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=self.temperature))

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[Any]) -> Step:
        if target == "score":
            return run.score(role, self.judge, self.verifier, self.rubric, [p["candidate"] for p in payloads])
        return draw_samples(run, self.generate, role, target, payloads)

    def _loop(self, run: StepRun) -> StepLoop:
        core = best_of_n_loop(
            run.inputs, question=question_of(run.inputs), n=self.n,
            threshold=self.threshold, weighted=self.weighted, wave_size=self.wave_size, same=self.same,
            extract=lambda prediction: answer_of(prediction, self.answer_field),
        )  # fmt: skip
        return (yield from family_steps(core, lambda *step: self._bind(run, *step), read_sample))
