"""Best-of-N as a DSPy module: sample a signature up to n times, verify each prediction, return the best.

Three ways to select, as in the LangChain shell (``SamplingPlan``, ``scored_result``, ``voted_result``):
the single highest-scored prediction; with ``threshold``, the first one scored at least that high
(sampling in waves stops there); with ``weighted=True``, the answer whose predictions' scores sum highest.

How it differs from ``dspy.BestOfN(module, N, reward_fn, threshold)``:

- samples run in parallel waves (a thread pool, or ``asyncio.gather`` in ``acall``), not one by one;
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

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import dspy
from dspy.signatures.signature import Signature

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import budget_role, current_budget
from ttc_plugins.dspy._sampling import Sample, SamplingModule, signature_inputs
from ttc_plugins.dspy.budgeted_lm import BudgetedLM
from ttc_plugins.dspy.judge import FirstVerdictJudge, JudgeAnswer, check_judge_signature, judge_inputs, verdict_of
from ttc_plugins.prompts import JUDGE_DEFAULT_RUBRIC
from ttc_plugins.results import Candidate, TTCResult, Verdict
from ttc_plugins.strategies.candidates import apply_verdict, scored_result, voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan

__all__ = ["BestOfN", "PredictionVerifier"]

PredictionVerifier = Callable[[dict[str, Any], dspy.Prediction], "Verdict | float | bool"]
"""``(inputs, prediction) -> Verdict | float in [0, 1] | bool``: the signature's inputs and one sample."""


class BestOfN(SamplingModule):
    """Answer a signature with the best of up to ``n`` sampled, verified predictions.

    Each sample is verified in the worker that drew it, while the wave's other samples are still being
    drawn. A sample or a verification that fails (an unparseable reply, a provider error, a verifier's
    exception or garbage, a judge reply without a valid score) fails that candidate only: it is kept in
    the result, marked, and left out of the selection. Every call is charged to a child of the current
    budget (a fresh one outside any ``budget_scope``), the verifier's under the role "verifier"; when the
    budget refuses a sample or a verification the run stops and selects among what it has verified
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

    run_name = "best_of_n"

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
        super().__init__(
            signature,
            n=n,
            wave_size=wave_size,
            answer_field=answer_field,
            same=same,
            chain_of_thought=chain_of_thought,
            temperature=temperature,
            num_threads=num_threads,
        )
        if verifier == "llm" or (isinstance(verifier, type) and issubclass(verifier, Signature)):
            judge_signature = JudgeAnswer if verifier == "llm" else verifier
            check_judge_signature(judge_signature)
            # An attribute, so optimizers find and tune the judge as they tune the generator.
            self.judge = dspy.Predict(judge_signature)
            self.verifier = None
        elif callable(verifier) and not isinstance(verifier, str):
            if rubric is not None:
                raise ValueError("rubric is for the LLM judge (verifier='llm'); a function verifier has its own checks")
            self.judge = None
            self.verifier = verifier
        else:
            raise TypeError(
                "verifier must be a function (inputs, prediction) -> Verdict | float | bool, 'llm', "
                f"or a judge signature, got {verifier!r}"
            )
        self.threshold = threshold
        self.weighted = weighted
        self.rubric = rubric or JUDGE_DEFAULT_RUBRIC
        self._plan()  # bad n, wave_size or threshold fail here, not at the first call

    def _plan(self) -> SamplingPlan:
        return SamplingPlan(self.n, wave_size=self.wave_size, threshold=self.threshold, same=self.same)

    # ---- verification, in the sample's worker and inside its trace

    def _judge_arguments(self, inputs: dict[str, Any], prediction: dspy.Prediction) -> dict[str, Any]:
        arguments: dict[str, Any] = judge_inputs(
            self.judge.signature, signature_inputs(inputs), prediction, self.rubric
        )
        lm = self.judge.lm or inputs.get("lm") or dspy.settings.lm
        if isinstance(lm, dspy.BaseLM):
            # Charged to the run's budget (the current one here) whichever LM judges, the judge's own included.
            arguments["lm"] = BudgetedLM(lm, current_budget())
        return arguments

    def _examine(self, sample: Sample, inputs: dict[str, Any]) -> None:
        with budget_role("verifier"):
            try:
                if self.judge is not None:
                    judge = FirstVerdictJudge(self.judge)
                    sample.examined = verdict_of(judge(**self._judge_arguments(inputs, sample.outcome)))
                    return
                reply = self.verifier(signature_inputs(inputs), sample.outcome)
                if inspect.isawaitable(reply):
                    reply = asyncio.run(_awaited(reply))  # a worker thread has no event loop of its own
                sample.examined = reply
            except Exception as error:  # a failed verification fails this candidate, not the run
                sample.examined = error

    async def _aexamine(self, sample: Sample, inputs: dict[str, Any]) -> None:
        with budget_role("verifier"):
            try:
                if self.judge is not None:
                    judge = FirstVerdictJudge(self.judge)
                    reply = await judge.acall(**self._judge_arguments(inputs, sample.outcome))
                    sample.examined = verdict_of(reply)
                    return
                # A plain function may block (run a test suite, call a service): keep it off the event loop.
                reply = await asyncio.to_thread(self.verifier, signature_inputs(inputs), sample.outcome)
                sample.examined = await reply if inspect.isawaitable(reply) else reply
            except Exception as error:
                sample.examined = error

    def _candidate(self, candidate: Candidate, sample: Sample) -> Candidate:
        # The same verdict handling as every shell: garbage or an exception fails this candidate only,
        # and a budget refusal is kept so that, when nothing could be verified, it is what the caller gets.
        return apply_verdict(candidate, sample.examined)

    def _select(self, candidates: list[Candidate], plan: SamplingPlan) -> TTCResult:
        stop_reason = plan.stop_reason or "done"
        if self.weighted:
            return voted_result(candidates, stop_reason=stop_reason, same=self.same, weighted=True)
        return scored_result(candidates, stop_reason=stop_reason, threshold=self.threshold)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
