"""Selection rules for generate → verify → select, shared by every framework shell. No model calls here.

Tie-breaking is deterministic everywhere: among equally good answers the one whose first candidate
came earliest wins, so a run with the same candidates always picks the same one.

Example:
    >>> vote = majority_vote(["7", "8", "7.0", None, "8", "7"])
    >>> vote.answer, vote.winner, vote.weight
    ('7', 0, 3.0)
    >>> AdaptiveStop().should_stop(group_sizes=[3, 0], samples=3, n=8)
    False
    >>> AdaptiveStop().should_stop(group_sizes=[6, 0], samples=6, n=8)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ttc_plugins.answers import AnswerMatcher, group_answers, same_answer
from ttc_plugins.strategies.options import check_real, check_sample_count

__all__ = [
    "AdaptiveStop",
    "Vote",
    "best_by_score",
    "first_above",
    "leader_probability",
    "majority_vote",
    "weighted_vote",
]


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote over candidate answers.

    Attributes:
        winner: index of the chosen candidate (the first member of the winning group).
        answer: the winning answer, as extracted from that candidate.
        weight: the winning group's weight: its size (majority) or its summed score (weighted).
        groups: indices of equivalent answers, each group in index order.
        weights: each group's weight, aligned with ``groups``.
    """

    winner: int
    answer: str
    weight: float
    groups: list[list[int]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def votes_for(self, index: int) -> float:
        """The weight of the group that candidate ``index`` belongs to (0 if it took no part)."""
        for group, weight in zip(self.groups, self.weights, strict=True):
            if index in group:
                return weight
        return 0.0


def _elect(answers: Sequence[str | None], groups: list[list[int]], weights: list[float]) -> Vote | None:
    if not groups:
        return None
    # Highest weight, then the larger group, then the group that appeared first.
    best = max(range(len(groups)), key=lambda g: (weights[g], len(groups[g]), -groups[g][0]))
    winner = groups[best][0]
    return Vote(winner=winner, answer=answers[winner], weight=weights[best], groups=groups, weights=weights)


def majority_vote(answers: Sequence[str | None], *, same: AnswerMatcher = same_answer) -> Vote | None:
    """Self-consistency: the answer most candidates agree on (None answers take no part).

    Returns None when no candidate has an answer. Ties go to the answer that appeared first.
    """
    groups = group_answers(answers, same)
    return _elect(answers, groups, [float(len(g)) for g in groups])


def weighted_vote(
    answers: Sequence[str | None], scores: Sequence[float | None], *, same: AnswerMatcher = same_answer
) -> Vote | None:
    """Weighted best-of-N: the answer whose candidates' verifier scores sum highest.

    A candidate without a score (its verification failed) takes no part. Ties go to the larger
    group, then to the answer that appeared first.

    Example:
        >>> weighted_vote(["3", "4", "4"], [0.9, 0.3, 0.4]).answer
        '3'
    """
    if len(answers) != len(scores):
        raise ValueError(
            f"weighted_vote needs one score per answer, got {len(answers)} answers and {len(scores)} scores"
        )
    usable = [answer if score is not None else None for answer, score in zip(answers, scores, strict=True)]
    groups = group_answers(usable, same)
    weights = [sum(float(scores[i] or 0.0) for i in group) for group in groups]
    return _elect(usable, groups, weights)


def best_by_score(scores: Sequence[float | None]) -> int | None:
    """Best-of-N: the index of the highest score (the earliest on a tie), None if nothing was scored.

    Example:
        >>> best_by_score([0.2, None, 0.9, 0.9])
        2
    """
    scored = [(score, -index) for index, score in enumerate(scores) if score is not None]
    return -max(scored)[1] if scored else None


def first_above(scores: Sequence[float | None], threshold: float) -> int | None:
    """The first index whose score reaches ``threshold``, or None.

    Example:
        >>> first_above([0.2, 0.8, 0.95], threshold=0.8)
        1
    """
    return next((i for i, score in enumerate(scores) if score is not None and score >= threshold), None)


def leader_probability(leader: int, runner_up: int) -> float:
    """P(the leading answer is really more likely than the runner-up), under a uniform prior.

    With ``leader`` and ``runner_up`` votes, the leader's share of the two follows
    Beta(leader + 1, runner_up + 1); this is P(share > 1/2), computed exactly through the binomial
    identity P(Beta(a, b) > 1/2) = P(Binomial(a + b - 1, 1/2) <= a - 1).

    Example:
        >>> round(leader_probability(4, 0), 4), round(leader_probability(2, 2), 4)
        (0.9688, 0.5)
    """
    if leader < 0 or runner_up < 0:
        raise ValueError("vote counts cannot be negative")
    trials = leader + runner_up + 1
    return sum(math.comb(trials, k) for k in range(leader + 1)) / 2**trials


@dataclass(frozen=True)
class AdaptiveStop:
    """When self-consistency may stop sampling early (adaptive consistency).

    Args:
        rule: ``"unbeatable"`` stops once the leader cannot be caught even if every remaining
            sample went to the runner-up (never changes the answer a full run would give);
            ``"beta"`` stops once :func:`leader_probability` reaches ``confidence`` (saves more,
            may rarely stop on an answer a full run would have overturned).
        confidence: the probability the ``"beta"`` rule needs.
        min_samples: never stop before this many answers.

    Example:
        >>> rule = AdaptiveStop(rule="beta", confidence=0.9, min_samples=3)
        >>> rule.should_stop(group_sizes=[4, 0], samples=4, n=16)
        True
    """

    rule: Literal["unbeatable", "beta"] = "unbeatable"
    confidence: float = 0.95
    min_samples: int = 3

    def __post_init__(self) -> None:
        if self.rule not in ("unbeatable", "beta"):
            raise ValueError(f"AdaptiveStop.rule must be 'unbeatable' or 'beta', got {self.rule!r}")
        check_real(self.confidence, name="AdaptiveStop.confidence", low=0.5, high=1.0, low_open=True, high_open=True)
        check_sample_count(self.min_samples, name="AdaptiveStop.min_samples")

    def should_stop(self, group_sizes: Sequence[int], samples: int, n: int) -> bool:
        """Whether sampling can stop, given the answer groups' sizes after ``samples`` of at most ``n``."""
        answered = sum(group_sizes)
        if answered < self.min_samples or not group_sizes:
            return False
        ranked = sorted(group_sizes, reverse=True)
        leader, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else 0)
        if self.rule == "unbeatable":
            return leader - runner_up > n - samples
        return leader_probability(leader, runner_up) >= self.confidence
