"""How many samples to draw next, and why sampling stopped: the loop shared by every sampling shell.

A shell asks the plan for the next wave, samples that many (in parallel, its own way), adds the
candidates, and asks again until the plan says 0. The plan then knows the stop reason:

- ``"done"``: all ``n`` samples were drawn;
- ``"budget"``: the budget refused a sample (it is never sent; the run keeps what it has);
- ``"converged"``: adaptive self-consistency found the vote settled;
- ``"threshold"``: a candidate's verifier score reached the threshold.

Example:
    >>> from ttc_plugins import Candidate
    >>> plan = SamplingPlan(n=8, adaptive=AdaptiveStop(min_samples=3), wave_size=2)
    >>> plan.next_wave([])
    3
    >>> cands = [Candidate(index=i, output="x", answer=a) for i, a in enumerate("7877777")]
    >>> plan.next_wave(cands[:3]), plan.next_wave(cands[:5]), plan.next_wave(cands)
    (2, 2, 0)
    >>> plan.stop_reason
    'converged'
"""

from __future__ import annotations

from collections.abc import Sequence

from ttc_plugins.answers import AnswerMatcher, group_answers, same_answer
from ttc_plugins.budget import Budget
from ttc_plugins.results import Candidate, StopReason
from ttc_plugins.strategies.options import check_sample_count, check_samples_fit, check_threshold
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SamplingPlan"]


class SamplingPlan:
    """Plans the waves of a self-consistency or best-of-N run.

    Args:
        n: the most samples to draw.
        wave_size: samples per wave after the first when stopping early is possible (adaptive or
            threshold); without early stopping all ``n`` are drawn in one wave.
        adaptive: stop once the vote is settled (see :class:`AdaptiveStop`).
        threshold: stop once a candidate's score reaches it (best-of-N "first above threshold").
        same: the answer equivalence used to count votes.

    Raises:
        ValueError: a bad option (see :mod:`ttc_plugins.strategies.options`).
    """

    def __init__(
        self,
        n: int,
        *,
        wave_size: int | None = None,
        adaptive: AdaptiveStop | None = None,
        threshold: float | None = None,
        same: AnswerMatcher = same_answer,
    ) -> None:
        self.n = check_sample_count(n)
        if wave_size is not None:
            check_sample_count(wave_size, name="wave_size")
        if adaptive is not None and not isinstance(adaptive, AdaptiveStop):
            raise ValueError(f"adaptive must be True, False or an AdaptiveStop, got {adaptive!r}")
        self.adaptive = adaptive
        self.threshold = check_threshold(threshold)
        self.same = same
        self.wave_size = wave_size or 2
        self.stop_reason: StopReason | None = None

    @property
    def stops_early(self) -> bool:
        return self.adaptive is not None or self.threshold is not None

    def check_fits(self, budget: Budget | None = None) -> None:
        """Refuse, before the first call, an ``n`` the budget's ``max_calls`` can never admit.

        Only a plan that must draw all ``n`` is refused; one that can stop early is not (see
        :func:`~ttc_plugins.strategies.options.check_samples_fit`). ``budget`` defaults to the current one.
        """
        check_samples_fit(self.n, budget, stops_early=self.stops_early)

    def next_wave(self, candidates: Sequence[Candidate]) -> int:
        """How many samples to draw next; 0 means stop (and ``stop_reason`` says why)."""
        drawn = len(candidates)
        if any(c.budget_refused for c in candidates):
            return self._stop("budget")
        if self.threshold is not None and any(
            c.ok and c.score is not None and c.score >= self.threshold for c in candidates
        ):
            return self._stop("threshold")
        if drawn >= self.n:
            return self._stop("done")
        if self.adaptive is not None:
            answers = [c.answer if c.ok else None for c in candidates]
            sizes = [len(group) for group in group_answers(answers, self.same)]
            if self.adaptive.should_stop(sizes, samples=drawn, n=self.n):
                return self._stop("converged")
        if not self.stops_early:
            return self.n - drawn
        first = self.adaptive.min_samples if self.adaptive is not None else self.wave_size
        return min(self.wave_size if drawn else max(first, 1), self.n - drawn)

    def _stop(self, reason: StopReason) -> int:
        self.stop_reason = reason
        return 0
