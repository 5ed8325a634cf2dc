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

from dspy.signatures.signature import Signature

from ttc_plugins.answers import AnswerMatcher, group_answers, same_answer
from ttc_plugins.dspy._sampling import SamplingModule
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SelfConsistency"]


class SelfConsistency(SamplingModule):
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

    run_name = "self_consistency"

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
        self.adaptive = AdaptiveStop() if adaptive is True else (adaptive or None)
        self._plan()  # bad n or wave_size fail here, not at the first call

    def _plan(self) -> SamplingPlan:
        return SamplingPlan(self.n, wave_size=self.wave_size, adaptive=self.adaptive, same=self.same)

    def _select(self, candidates: list[Candidate], plan: SamplingPlan) -> TTCResult:
        return voted_result(candidates, stop_reason=plan.stop_reason or "done", same=self.same)

    def _traced_positions(self, candidates: list[Candidate], chosen: int) -> list[int]:
        """Every sample that gave the winning answer: each is a good demo when the answer passes the metric."""
        answers = [c.answer if c.ok else None for c in candidates]
        return next((group for group in group_answers(answers, self.same) if chosen in group), [chosen])
