"""Self-consistency as a DSPy module: sample a signature up to n times and return the majority answer's prediction.

The sampler is an attribute (``self.generate``), so DSPy optimizers find it and tune it like any other
predictor. Samples reuse that one predictor and differ only in ``rollout_id`` (DSPy's cache would
otherwise return one answer n times), so BootstrapFewShot traces map back to it; nothing is
deep-copied. Waves, stop reasons and votes are the LangChain shell's (``SamplingPlan``, ``voted_result``).

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

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.answers import AnswerMatcher, extract_answer, group_answers, same_answer
from ttc_plugins.budget import Budget, strategy_run_scope
from ttc_plugins.dspy.budgeted_lm import BudgetedLM
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import make_candidates, voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SelfConsistency"]

logger = logging.getLogger(__name__)

_RUN_NAME = "self_consistency"


@dataclass
class _Sample:
    """One draw: its prediction (or the exception raised instead), its own trace, and its budget."""

    budget: Budget
    outcome: Any = None
    trace: list[Any] = field(default_factory=list)


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
        outputs = list(signature.output_fields)
        if answer_field is not None and answer_field not in outputs:
            raise ValueError(f"answer_field {answer_field!r} is not an output field of the signature: {outputs}")
        if num_threads is not None and (
            isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1
        ):
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
        self.generate = dspy.ChainOfThought(signature) if chain_of_thought else dspy.Predict(signature)
        self.n = n
        self.adaptive = AdaptiveStop() if adaptive is True else (adaptive or None)
        self.wave_size = wave_size
        self.answer_field = answer_field or outputs[-1]
        self.same = same
        self.temperature = temperature
        self.num_threads = num_threads
        self._plan()  # bad n or wave_size fail here, not at the first call

    def _plan(self) -> SamplingPlan:
        return SamplingPlan(self.n, wave_size=self.wave_size, adaptive=self.adaptive, same=self.same)

    def _answer_of(self, prediction: dspy.Prediction) -> str | None:
        value = prediction.get(self.answer_field)
        text = "" if value is None else str(value)
        return extract_answer(text) or text.strip() or None

    def _new_samples(
        self, run_budget: Budget, inputs: dict[str, Any], start: int, count: int
    ) -> list[tuple[_Sample, dict[str, Any]]]:
        """Each sample's budget and call arguments: a distinct rollout_id, and an LM charged to that budget.

        A caller's own ``config`` and ``lm`` (as ``dspy.Predict`` takes them) are honoured; its
        ``rollout_id``, else the LM's, is where the samples' rollout_ids start.
        """
        predictor = getattr(self.generate, "predict", self.generate)
        # Looked up per run, never stored: inside the run scope the configured LM is the budgeted one.
        lm = inputs.get("lm") or predictor.lm or dspy.settings.lm
        config = dict(inputs.get("config") or {})
        base = config.get("rollout_id") or (getattr(lm, "kwargs", None) or {}).get("rollout_id") or 0
        if self.temperature is not None:
            config.setdefault("temperature", self.temperature)
        prepared = []
        for index in range(start, start + count):
            sample = _Sample(budget=run_budget.child(name=f"{_RUN_NAME} sample {index}"))
            arguments = {**inputs, "config": {**config, "rollout_id": base + index}}
            if isinstance(lm, dspy.BaseLM):
                # Per-sample budgets give each candidate its exact tokens; a predictor's own LM is charged too.
                arguments["lm"] = BudgetedLM(lm, sample.budget)
            prepared.append((sample, arguments))
        return prepared

    def _draw(self, sample: _Sample, arguments: dict[str, Any]) -> _Sample:
        # A trace of its own per sample: only the samples that agree with the winner reach the caller's.
        with dspy.context(trace=sample.trace):
            try:
                sample.outcome = self.generate(**arguments)
            except Exception as error:  # one failed sample is a failed candidate, not a failed run
                sample.outcome = error
        return sample

    async def _adraw(self, sample: _Sample, arguments: dict[str, Any]) -> _Sample:
        with dspy.context(trace=sample.trace):
            try:
                sample.outcome = await self.generate.acall(**arguments)
            except Exception as error:
                sample.outcome = error
        return sample

    def _candidates(self, samples: list[_Sample], start: int) -> list[Candidate]:
        candidates = make_candidates([s.outcome for s in samples], start=start, extract=self._answer_of)
        for candidate, sample in zip(candidates, samples, strict=True):
            spent = sample.budget.spent
            candidate.input_tokens, candidate.output_tokens = spent.input_tokens, spent.output_tokens
            if not candidate.ok:
                logger.debug("self-consistency sample %d failed: %s", candidate.index, candidate.error)
        return candidates

    @contextlib.contextmanager
    def _thread_pool(self) -> Iterator[ThreadPoolExecutor]:
        # Our own pool rather than dspy.Parallel: Parallel deep-copies the usage tracker per thread, so
        # track_usage lost every sample; a copied context carries DSPy's settings, the budget and the
        # callback parent as they are.
        threads = min(self.n, self.num_threads or dspy.settings.num_threads or 1)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ttc-self-consistency") as pool:
            yield pool

    def forward(self, **inputs: Any) -> dspy.Prediction:
        plan, candidates, samples = self._plan(), [], []
        with strategy_run_scope(_RUN_NAME) as run_budget, self._thread_pool() as pool:
            while wave := plan.next_wave(candidates):
                futures = [
                    pool.submit(contextvars.copy_context().run, self._draw, sample, arguments)
                    for sample, arguments in self._new_samples(run_budget, inputs, len(samples), wave)
                ]
                drawn = [future.result() for future in futures]
                candidates += self._candidates(drawn, start=len(samples))
                samples += drawn
        return self._finish(candidates, samples, plan, run_budget)

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        plan, candidates, samples = self._plan(), [], []
        with strategy_run_scope(_RUN_NAME) as run_budget:
            while wave := plan.next_wave(candidates):
                prepared = self._new_samples(run_budget, inputs, len(samples), wave)
                drawn = list(await asyncio.gather(*(self._adraw(sample, arguments) for sample, arguments in prepared)))
                candidates += self._candidates(drawn, start=len(samples))
                samples += drawn
        return self._finish(candidates, samples, plan, run_budget)

    def _finish(
        self, candidates: list[Candidate], samples: list[_Sample], plan: SamplingPlan, run_budget: Budget
    ) -> dspy.Prediction:
        result = voted_result(candidates, stop_reason=plan.stop_reason or "done", same=self.same)
        result.spend = run_budget.spent
        self._pass_on_trace(candidates, samples, result.chosen)
        return dspy.Prediction(**dict(result.output.items()), ttc_result=result)

    def _pass_on_trace(self, candidates: list[Candidate], samples: list[_Sample], chosen: int | None) -> None:
        """Extend the caller's trace with the samples that gave the winning answer, as ``dspy.BestOfN`` does.

        BootstrapFewShot turns a traced step into a demo when the program's answer passes the metric,
        so a sample that voted for a losing answer must not be in the trace.
        """
        trace, limit = dspy.settings.trace, dspy.settings.max_trace_size
        if trace is None or limit <= 0 or chosen is None:
            return
        answers = [c.answer if c.ok else None for c in candidates]
        winners = next((group for group in group_answers(answers, self.same) if chosen in group), [chosen])
        for position in winners:
            trace.extend(samples[position].trace)
        del trace[: max(0, len(trace) - limit)]
