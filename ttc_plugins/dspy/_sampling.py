"""The sampling loop shared by the DSPy sampling strategies (self-consistency, best-of-N).

A run asks its :class:`~ttc_plugins.strategies.sampling_plan.SamplingPlan` for the next wave and draws
that many samples of ``self.generate`` in parallel. Each sample reuses that one predictor with its own
``rollout_id`` (DSPy's cache would otherwise return one answer n times), its own child budget (so each
candidate has its exact tokens) and its own trace. The strategy examines each sample in the worker that
drew it (best-of-N verifies it there, while other samples are still being drawn), the samples become
candidates, and the loop repeats until the plan stops. Then the strategy selects, and only the chosen
samples' traces reach the caller's trace, as ``dspy.BestOfN`` does, so BootstrapFewShot learns from
them. Nothing is deep-copied and nothing is stored on the module during a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.answers import AnswerMatcher, extract_answer
from ttc_plugins.budget import Budget, strategy_run_scope
from ttc_plugins.dspy._answer_field import answer_field_of
from ttc_plugins.dspy.budgeted_lm import BudgetedLM
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import make_candidates
from ttc_plugins.strategies.options import check_count, check_temperature
from ttc_plugins.strategies.sampling_plan import SamplingPlan


def pass_on(traces: list[list[Any]]) -> None:
    """Extend the caller's trace with these calls' steps, keeping DSPy's size limit.

    BootstrapFewShot turns every traced step into a demo when the program's answer passes the metric,
    so only the steps that made the returned answer may reach it: not a losing sample, not a rejected edit.
    """
    trace, limit = dspy.settings.trace, dspy.settings.max_trace_size
    if trace is None or limit <= 0:
        return
    for steps in traces:
        trace.extend(steps)
    del trace[: max(0, len(trace) - limit)]


ROLLOUTS_PER_BLOCK = 1000
"""A caller's ``rollout_id`` r (or the LM's) opens a block: its samples use ``r * 1000 + i``.

BootstrapFewShot gives round k the rollout_id k; consecutive ids counted ``r + i`` would overlap
(round 2's first sample = round 1's second), and DSPy's cache would hand the same answers back."""


def base_rollout_id(config: dict[str, Any], lm: Any) -> int:
    """Where a run's sample rollout_ids start: the caller's ``config`` rollout_id, else the LM's, as a block."""
    base = config.get("rollout_id") or (getattr(lm, "kwargs", None) or {}).get("rollout_id") or 0
    return int(base) * ROLLOUTS_PER_BLOCK


__all__ = ["ROLLOUTS_PER_BLOCK", "Sample", "SamplingModule", "base_rollout_id", "pass_on", "signature_inputs"]

logger = logging.getLogger(__name__)

# Keyword arguments a call takes as ``dspy.Predict`` does, which are not inputs of the signature.
_CALL_OPTIONS = ("config", "lm")


def signature_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """A call's keyword arguments without the per-call options (``config``, ``lm``).

    Example:
        >>> signature_inputs({"question": "q", "config": {"temperature": 1.0}})
        {'question': 'q'}
    """
    return {key: value for key, value in inputs.items() if key not in _CALL_OPTIONS}


@dataclass
class Sample:
    """One draw: its budget and call arguments, its prediction (or the exception raised instead), its
    own trace, and what the strategy found when it examined the prediction (best-of-N: the verdict)."""

    budget: Budget
    arguments: dict[str, Any]
    outcome: Any = None
    examined: Any = None
    trace: list[Any] = field(default_factory=list)


class SamplingModule(dspy.Module):
    """Samples ``self.generate`` in waves and selects; subclasses say how to plan, examine and select.

    Subclasses define ``_plan`` and ``_select``, and may define ``_examine``/``_aexamine`` (work on a
    fresh prediction inside its worker), ``_candidate`` (fold that work into its candidate) and
    ``_traced_positions`` (whose traces reach the caller's trace; the chosen sample's by default).
    """

    run_name: ClassVar[str] = "sampling"

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        n: int,
        wave_size: int | None,
        answer_field: str | None,
        same: AnswerMatcher,
        chain_of_thought: bool,
        temperature: float | None,
        num_threads: int | None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        answer_field = answer_field_of(signature, answer_field)
        self.generate = dspy.ChainOfThought(signature) if chain_of_thought else dspy.Predict(signature)
        self.n = n
        self.wave_size = wave_size
        self.answer_field = answer_field
        self.same = same
        self.temperature = check_temperature(temperature)
        self.num_threads = check_count(num_threads, name="num_threads", optional=True)

    # ---- what subclasses define

    def _plan(self) -> SamplingPlan:
        raise TypeError(f"{type(self).__name__} must define _plan()")

    def _select(self, candidates: list[Candidate], plan: SamplingPlan) -> TTCResult:
        raise TypeError(f"{type(self).__name__} must define _select()")

    def _examine(self, sample: Sample, inputs: dict[str, Any]) -> None:
        """Work on a sample's prediction in the worker that drew it, inside the sample's trace."""

    async def _aexamine(self, sample: Sample, inputs: dict[str, Any]) -> None:
        """The async twin of :meth:`_examine`."""

    def _candidate(self, candidate: Candidate, sample: Sample) -> Candidate:
        """The candidate with what ``_examine`` found folded in."""
        return candidate

    def _traced_positions(self, candidates: list[Candidate], chosen: int) -> list[int]:
        """The samples whose traces reach the caller's trace: those BootstrapFewShot may learn from."""
        return [chosen]

    # ---- one run

    def _answer_of(self, prediction: dspy.Prediction) -> str | None:
        value = prediction.get(self.answer_field)
        text = "" if value is None else str(value)
        return extract_answer(text) or text.strip() or None

    def _new_samples(self, run_budget: Budget, inputs: dict[str, Any], start: int, count: int) -> list[Sample]:
        """Each sample's budget and call arguments: a distinct rollout_id, and an LM charged to that budget.

        A caller's own ``config`` and ``lm`` (as ``dspy.Predict`` takes them) are honoured; its
        ``rollout_id``, else the LM's, picks the block the samples' rollout_ids come from.
        """
        predictor = getattr(self.generate, "predict", self.generate)
        # Looked up per run, never stored: inside the run scope the configured LM is the budgeted one.
        lm = inputs.get("lm") or predictor.lm or dspy.settings.lm
        config = dict(inputs.get("config") or {})
        base = base_rollout_id(config, lm)
        if self.temperature is not None:
            config.setdefault("temperature", self.temperature)
        samples = []
        for index in range(start, start + count):
            budget = run_budget.child(name=f"{self.run_name} sample {index}")
            arguments = {**inputs, "config": {**config, "rollout_id": base + index}}
            if isinstance(lm, dspy.BaseLM):
                # Per-sample budgets give each candidate its exact tokens; a predictor's own LM is charged too.
                arguments["lm"] = BudgetedLM(lm, budget)
            samples.append(Sample(budget=budget, arguments=arguments))
        return samples

    def _draw(self, sample: Sample, inputs: dict[str, Any]) -> Sample:
        # A trace of its own per sample: only the chosen samples' steps reach the caller's trace.
        with dspy.context(trace=sample.trace):
            try:
                sample.outcome = self.generate(**sample.arguments)
            except Exception as error:  # one failed sample is a failed candidate, not a failed run
                sample.outcome = error
                return sample
            self._examine(sample, inputs)
        return sample

    async def _adraw(self, sample: Sample, inputs: dict[str, Any]) -> Sample:
        with dspy.context(trace=sample.trace):
            try:
                sample.outcome = await self.generate.acall(**sample.arguments)
            except Exception as error:
                sample.outcome = error
                return sample
            await self._aexamine(sample, inputs)
        return sample

    def _candidates(self, samples: list[Sample], start: int) -> list[Candidate]:
        candidates = make_candidates([s.outcome for s in samples], start=start, extract=self._answer_of)
        examined = []
        for candidate, sample in zip(candidates, samples, strict=True):
            spent = sample.budget.spent
            candidate.input_tokens, candidate.output_tokens = spent.input_tokens, spent.output_tokens
            if candidate.ok:
                candidate = self._candidate(candidate, sample)
            if not candidate.ok:
                logger.debug("%s sample %d failed: %s", self.run_name, candidate.index, candidate.error)
            examined.append(candidate)
        return examined

    @contextlib.contextmanager
    def _thread_pool(self) -> Iterator[ThreadPoolExecutor]:
        # Our own pool rather than dspy.Parallel: Parallel deep-copies the usage tracker per thread, so
        # track_usage lost every sample; a copied context carries DSPy's settings, the budget, the role
        # and the callback parent as they are.
        threads = min(self.n, self.num_threads or dspy.settings.num_threads or 1)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"ttc-{self.run_name}") as pool:
            yield pool

    def forward(self, **inputs: Any) -> dspy.Prediction:
        plan, candidates, samples = self._plan(), [], []
        plan.check_fits()  # against the caller's budget, before any call
        with strategy_run_scope(self.run_name) as run_budget, self._thread_pool() as pool:
            while wave := plan.next_wave(candidates):
                futures = [
                    pool.submit(contextvars.copy_context().run, self._draw, sample, inputs)
                    for sample in self._new_samples(run_budget, inputs, len(samples), wave)
                ]
                drawn = [future.result() for future in futures]
                candidates += self._candidates(drawn, start=len(samples))
                samples += drawn
        return self._finish(candidates, samples, plan, run_budget)

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        plan, candidates, samples = self._plan(), [], []
        plan.check_fits()
        with strategy_run_scope(self.run_name) as run_budget:
            while wave := plan.next_wave(candidates):
                fresh = self._new_samples(run_budget, inputs, len(samples), wave)
                drawn = list(await asyncio.gather(*(self._adraw(sample, inputs) for sample in fresh)))
                candidates += self._candidates(drawn, start=len(samples))
                samples += drawn
        return self._finish(candidates, samples, plan, run_budget)

    def _finish(
        self, candidates: list[Candidate], samples: list[Sample], plan: SamplingPlan, run_budget: Budget
    ) -> dspy.Prediction:
        result = self._select(candidates, plan)
        result.spend = run_budget.spent
        if result.chosen is not None:
            pass_on([samples[p].trace for p in self._traced_positions(candidates, result.chosen)])
        return dspy.Prediction(**dict(result.output.items()), ttc_result=result)
