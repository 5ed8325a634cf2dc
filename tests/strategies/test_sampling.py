"""Self-consistency's and best-of-N's decisions, checked once through the library's test double (`drive`)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.strategies.stepping import refusal_by
from ttc_plugins import Budget, BudgetExceeded, budget_scope, current_role
from ttc_plugins.strategies.sampling import best_of_n_loop, self_consistency_loop
from ttc_plugins.strategies.select import AdaptiveStop
from ttc_plugins.strategies.steps import Call, drive


class Samples:
    """Answers ``generate`` with ``texts`` in turn and ``score`` with ``scores[text]``; counts calls by target."""

    def __init__(self, texts, scores=None):
        self.texts, self.scores = iter(texts), scores or {}
        self.calls: Counter[str] = Counter()
        self.roles: dict[str, set[str]] = {}

    def __call__(self, call: Call):
        self.calls[call.target] += 1
        self.roles.setdefault(call.target, set()).add(current_role())
        reply = next(self.texts) if call.target == "generate" else self.scores[call.payload["candidate"]]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def _refused() -> BudgetExceeded:
    return refusal_by(Budget(max_calls=1))


def test_the_majority_wins_and_its_lineage_holds_every_sample_that_gave_its_answer():
    samples = Samples(["Answer: 7", "Answer: 8", "so, 7", "Answer: 9"])
    result = drive(self_consistency_loop("3 + 4?", n=4), samples)
    assert (result.answer, result.chosen, result.stop_reason) == ("7", 0, "done")
    assert [c.votes for c in result.candidates] == [2, 1, 2, 1]
    assert result.chosen_candidate.lineage == [(0, 0), (0, 2)]
    assert result.candidates[1].lineage == [(0, 1)]
    assert samples.calls == {"generate": 4} and samples.roles == {"generate": {"generator"}}


def test_adaptive_sampling_stops_once_no_later_sample_could_change_the_vote():
    samples = Samples(["Answer: 7"] * 8)
    result = drive(self_consistency_loop("q", n=8, adaptive=AdaptiveStop(min_samples=3), wave_size=1), samples)
    assert (result.answer, result.stop_reason) == ("7", "converged")
    assert samples.calls["generate"] == len(result.candidates) < 8


def test_a_refused_sample_ends_sampling_and_the_vote_counts_what_was_paid_for():
    samples = Samples(["Answer: 7", "Answer: 8", _refused(), "Answer: 8"])
    result = drive(self_consistency_loop("q", n=8, adaptive=AdaptiveStop(min_samples=2), wave_size=2), samples)
    assert (result.stop_reason, samples.calls["generate"]) == ("budget", 4)
    assert [c.budget_refused for c in result.candidates] == [False, False, True, False]
    assert result.answer == "8"


def test_n_above_the_budgets_max_calls_is_refused_before_any_call():
    samples = Samples([])
    with budget_scope(Budget(max_calls=3)), pytest.raises(ValueError, match="n=4 samples can never fit"):
        drive(self_consistency_loop("q", n=4), samples)
    assert samples.calls == {}


def test_best_of_n_scores_each_usable_sample_and_returns_the_best():
    scores = {"Answer: 1": 0.2, "Answer: 2": 0.9, "Answer: 3": 0.5}
    samples = Samples(["Answer: 1", "Answer: 2", TimeoutError("slow"), "Answer: 3"], scores)
    result = drive(best_of_n_loop("q", question="q", n=4), samples)
    assert (result.answer, result.chosen, result.stop_reason) == ("2", 1, "done")
    assert samples.calls == {"generate": 4, "score": 3}
    assert samples.roles == {"generate": {"generator"}, "score": {"verifier"}}
    assert [c.score for c in result.candidates] == [0.2, 0.9, None, 0.5]
    assert result.chosen_candidate.lineage == [(0, 1), (1, 1)]  # its sample, then its scoring


def test_a_threshold_stops_at_the_first_good_enough_sample():
    scores = {"Answer: 1": 0.2, "Answer: 2": 0.95, "Answer: 3": 0.99}
    samples = Samples(["Answer: 1", "Answer: 2", "Answer: 3"] * 2, scores)
    result = drive(best_of_n_loop("q", question="q", n=6, threshold=0.9, wave_size=1), samples)
    assert (result.answer, result.stop_reason) == ("2", "threshold")
    assert samples.calls == {"generate": 2, "score": 2}


def test_weighted_best_of_n_lets_a_confident_minority_beat_a_raw_majority():
    scores = {"Answer: 1": 0.1, "Answer: 2": 0.9}
    samples = Samples(["Answer: 1", "Answer: 1", "Answer: 2"], scores)
    result = drive(best_of_n_loop("q", question="q", n=3, weighted=True), samples)
    assert result.answer == "2"


def test_a_garbage_verdict_fails_that_sample_only():
    samples = Samples(["Answer: 1", "Answer: 2"], {"Answer: 1": "great!", "Answer: 2": 0.4})
    result = drive(best_of_n_loop("q", question="q", n=2), samples)
    assert result.answer == "2"
    assert result.candidates[0].error.startswith("verification failed: verifier returned str")


def test_when_the_budget_refuses_every_scoring_the_first_sample_returns_unverified():
    refused = _refused()
    samples = Samples(["Answer: 1", "Answer: 2"], {"Answer: 1": refused, "Answer: 2": refused})
    result = drive(best_of_n_loop("q", question="q", n=2), samples)
    assert (result.answer, result.stop_reason, result.events[-1].kind) == ("1", "budget", "unverified_choice")


def test_a_refusal_by_a_budget_made_inside_a_sample_fails_that_sample_only():
    run = Budget(name="run")
    tool_cap = refusal_by(run.child(max_calls=1, name="tool cap"))
    samples = Samples(["Answer: 7", tool_cap, "Answer: 7"])
    with budget_scope(run):
        result = drive(self_consistency_loop("q", n=3), samples)
    assert (result.answer, result.stop_reason) == ("7", "done")
    assert not result.candidates[1].budget_refused
