"""Refine-with-feedback decisions, shared by every shell: never trade a better answer for a worse one.

Self-correction "sounds beautiful, easy to crash": asked to check their work, models often turn a
right answer into a wrong one. So a refine run keeps every version, accepts an edit only when the
scorer does not rate it lower than the best so far (or only when strictly higher), and returns the
best version, not the last. It stops, and says why, when:

==================  ==================  ====================================================
rule                ``stop_reason``     when
==================  ==================  ====================================================
critic_satisfied    ``"converged"``     the critic finds nothing to improve
threshold           ``"threshold"``     the best score reaches ``threshold``
patience            ``"converged"``     ``patience`` rounds in a row without an accepted edit
max_rounds          ``"done"``          ``max_rounds`` edit rounds were made
budget              ``"budget"``        the budget cannot pay for the next call
==================  ==================  ====================================================

Example:
    >>> from ttc_plugins import Candidate
    >>> tracker = RefineTracker(RefineRules(max_rounds=3, patience=1))
    >>> tracker.add_draft(Candidate(index=0, output="draft", answer="12", score=0.6))
    >>> tracker.start_round()
    True
    >>> tracker.consider_edit(Candidate(index=1, output="worse", answer="13", score=0.2))
    False
    >>> tracker.start_round(), tracker.stop_rule, tracker.best.output
    (False, 'patience', 'draft')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ttc_plugins.results import Candidate, StopReason, TTCEvent, TTCResult
from ttc_plugins.strategies.options import check_count, check_threshold

__all__ = ["AcceptRule", "RefineRules", "RefineTracker", "preference_pair"]

AcceptRule = Literal["not_lower", "higher"]
StopRule = Literal["critic_satisfied", "threshold", "patience", "max_rounds", "budget"]

_STOP_REASON: dict[str, StopReason] = {
    "critic_satisfied": "converged",
    "threshold": "threshold",
    "patience": "converged",
    "max_rounds": "done",
    "budget": "budget",
}


@dataclass(frozen=True)
class RefineRules:
    """When an edit is accepted and when refining stops.

    Args:
        max_rounds: the most critique → edit rounds after the draft.
        accept: ``"not_lower"`` accepts an edit scored at least as high as the best so far (lets a
            refinement that the scorer cannot tell apart through); ``"higher"`` demands a strict gain.
        patience: stop after this many rounds in a row without an accepted edit (None: never).
        threshold: stop once the best score reaches this (None: never).
    """

    max_rounds: int = 3
    accept: AcceptRule = "not_lower"
    patience: int | None = 2
    threshold: float | None = None

    def __post_init__(self) -> None:
        check_count(self.max_rounds, name="max_rounds", minimum=0)
        if self.accept not in ("not_lower", "higher"):
            raise ValueError(f"accept must be 'not_lower' or 'higher', got {self.accept!r}")
        check_count(self.patience, name="patience", optional=True)
        check_threshold(self.threshold)


class RefineTracker:
    """Keeps every version and the best one, judges each edit, and decides whether to go on.

    Use one tracker per run::

        tracker.add_draft(scored_draft)
        while tracker.start_round():          # threshold, patience and max_rounds are checked here
            critique = critic(tracker.best)
            if nothing_to_fix(critique):
                tracker.critic_satisfied()
                break
            tracker.consider_edit(scored(editor(tracker.best, critique)))

    and ``stop_for_budget()`` when the budget refuses a call; ``result()`` at the end.
    """

    def __init__(self, rules: RefineRules) -> None:
        self.rules = rules
        self.versions: list[Candidate] = []
        self.best: Candidate | None = None
        self.rounds = 0
        self.rounds_without_accept = 0
        self._accepted_this_round = False
        self.stop_rule: StopRule | None = None
        self.events: list[TTCEvent] = []

    @staticmethod
    def _score(candidate: Candidate | None) -> float:
        # An unscored version (its scoring failed) ranks below every scored one.
        return -1.0 if candidate is None or candidate.score is None or not candidate.ok else candidate.score

    def add_draft(self, draft: Candidate) -> None:
        """Record the first version; it is the best until an edit beats it."""
        if self.versions:
            raise RuntimeError("add_draft() is called once per run, before any edit")
        self.versions.append(draft)
        self.best = draft
        self.events.append(TTCEvent(kind="draft", data={"index": draft.index, "score": draft.score}))

    def consider_edit(self, edit: Candidate) -> bool:
        """Record an edit of the current best and say whether it replaces it."""
        if self.best is None:
            raise RuntimeError("add_draft() must come before consider_edit()")
        self.versions.append(edit)
        best, new = self._score(self.best), self._score(edit)
        accepted = edit.ok and edit.score is not None and (new > best if self.rules.accept == "higher" else new >= best)
        if accepted:
            self.best = edit
            self._accepted_this_round = True
        kind = "edit_accepted" if accepted else "edit_rejected"
        self.events.append(TTCEvent(kind=kind, data={"index": edit.index, "score": edit.score, "best_score": best}))
        return accepted

    def start_round(self) -> bool:
        """Close the current round (if any) and start the next one, unless a stop rule says otherwise."""
        if self.best is None:
            raise RuntimeError("add_draft() must come before start_round()")
        if self.stop_rule is not None:
            return False
        if self.rounds:
            self.rounds_without_accept = 0 if self._accepted_this_round else self.rounds_without_accept + 1
        self._accepted_this_round = False
        if self.rules.threshold is not None and self._score(self.best) >= self.rules.threshold:
            return self._stop("threshold")
        if self.rules.patience is not None and self.rounds_without_accept >= self.rules.patience:
            return self._stop("patience")
        if self.rounds >= self.rules.max_rounds:
            return self._stop("max_rounds")
        self.rounds += 1
        self.events.append(TTCEvent(kind="round", data={"round": self.rounds}))
        return True

    def critic_satisfied(self) -> None:
        """The critic found nothing to improve in the best version: stop."""
        if self.stop_rule is None:
            self._stop("critic_satisfied")

    def stop_for_budget(self) -> None:
        """The budget refused a call: stop now and keep the best so far."""
        if self.stop_rule is None:
            self._stop("budget")

    def _stop(self, rule: StopRule) -> bool:
        self.stop_rule = rule
        self.events.append(TTCEvent(kind="stop", data={"rule": rule, "rounds": self.rounds}))
        return False

    @property
    def stop_reason(self) -> StopReason:
        return _STOP_REASON[self.stop_rule] if self.stop_rule else "done"

    def result(self) -> TTCResult:
        """The best version as the output, every version as a candidate, and the events that explain it."""
        if self.best is None:
            raise RuntimeError("nothing was drafted")
        return TTCResult(
            output=self.best.output,
            answer=self.best.answer,
            candidates=list(self.versions),
            chosen=self.best.index,
            stop_reason=self.stop_reason,
            events=list(self.events),
        )


def preference_pair(candidates: Sequence[Candidate]) -> tuple[Candidate, Candidate] | None:
    """TPO's chosen and rejected responses: the highest- and the lowest-scored candidates.

    Ties go to the earlier candidate for "chosen" and the later one for "rejected". None when fewer
    than two candidates were scored or all scores are equal (no preference to learn from).

    Example:
        >>> from ttc_plugins import Candidate
        >>> pair = preference_pair([Candidate(index=i, score=s) for i, s in enumerate([0.4, 0.9, 0.1, 0.9])])
        >>> pair[0].index, pair[1].index
        (1, 2)
    """
    scored = [c for c in candidates if c.ok and c.score is not None]
    if len(scored) < 2:
        return None
    chosen = max(scored, key=lambda c: (c.score, -c.index))
    rejected = min(scored, key=lambda c: (c.score, -c.index))
    if chosen.score == rejected.score:
        return None
    return chosen, rejected
