import pytest

from ttc_plugins import Candidate
from ttc_plugins.strategies.refine import RefineRules, RefineTracker, preference_pair


def _v(index, score, output=None, **fields):
    return Candidate(index=index, output=output or f"v{index}", answer=str(index), score=score, **fields)


def _run(rules, draft_score, edit_scores, satisfied_at=None):
    """Drive a tracker the way the shells do; returns the tracker."""
    tracker = RefineTracker(rules)
    tracker.add_draft(_v(0, draft_score))
    edits = iter(edit_scores)
    while tracker.start_round():
        if satisfied_at == tracker.rounds:
            tracker.critic_satisfied()
            break
        tracker.consider_edit(_v(len(tracker.versions), next(edits)))
    return tracker


def test_an_edit_that_scores_lower_is_rejected_and_the_best_version_is_returned():
    tracker = _run(RefineRules(max_rounds=3, patience=None), 0.7, [0.9, 0.4, 0.5])
    result = tracker.result()
    assert (result.chosen, result.output, result.stop_reason) == (1, "v1", "done")
    assert [e.kind for e in result.events if e.kind.startswith("edit")] == [
        "edit_accepted",
        "edit_rejected",
        "edit_rejected",
    ]
    assert [c.index for c in result.candidates] == [0, 1, 2, 3]


@pytest.mark.parametrize(("accept", "chosen"), [("not_lower", 1), ("higher", 0)])
def test_an_equal_score_is_accepted_only_under_not_lower(accept, chosen):
    tracker = _run(RefineRules(max_rounds=1, accept=accept), 0.5, [0.5])
    assert tracker.result().chosen == chosen


@pytest.mark.parametrize(
    ("rules", "draft", "edits", "satisfied_at", "rule", "reason", "rounds"),
    [
        (RefineRules(max_rounds=5), 0.5, [0.6, 0.7], 3, "critic_satisfied", "converged", 3),
        (RefineRules(max_rounds=5, threshold=0.8), 0.5, [0.6, 0.85, 0.9], None, "threshold", "threshold", 2),
        (RefineRules(max_rounds=5, threshold=0.4), 0.5, [], None, "threshold", "threshold", 0),
        (RefineRules(max_rounds=9, patience=2), 0.5, [0.6, 0.1, 0.2, 0.9], None, "patience", "converged", 3),
        (RefineRules(max_rounds=2, patience=None), 0.5, [0.1, 0.2], None, "max_rounds", "done", 2),
        (RefineRules(max_rounds=0), 0.5, [], None, "max_rounds", "done", 0),
    ],
)
def test_each_stop_rule_fires_for_its_own_reason(rules, draft, edits, satisfied_at, rule, reason, rounds):
    tracker = _run(rules, draft, edits, satisfied_at)
    assert (tracker.stop_rule, tracker.stop_reason, tracker.rounds) == (rule, reason, rounds)
    assert tracker.result().events[-1].data == {"rule": rule, "rounds": rounds}


def test_a_budget_stop_keeps_the_best_so_far():
    tracker = RefineTracker(RefineRules(max_rounds=5))
    tracker.add_draft(_v(0, 0.3))
    assert tracker.start_round()
    tracker.consider_edit(_v(1, 0.6))
    tracker.stop_for_budget()
    assert not tracker.start_round()
    result = tracker.result()
    assert (result.stop_reason, result.chosen) == ("budget", 1)


def test_failed_or_unscored_edits_are_rejected_and_an_unscored_draft_loses_to_any_score():
    tracker = RefineTracker(RefineRules(max_rounds=3, patience=None))
    tracker.add_draft(_v(0, None))
    tracker.start_round()
    assert not tracker.consider_edit(Candidate(index=1, error="RuntimeError: editor down"))
    tracker.start_round()
    assert not tracker.consider_edit(_v(2, None))
    tracker.start_round()
    assert tracker.consider_edit(_v(3, 0.0))
    assert tracker.best.index == 3


def test_the_tracker_insists_on_its_order_of_calls():
    tracker = RefineTracker(RefineRules())
    with pytest.raises(RuntimeError, match="add_draft"):
        tracker.start_round()
    tracker.add_draft(_v(0, 0.1))
    with pytest.raises(RuntimeError, match="once per run"):
        tracker.add_draft(_v(1, 0.1))


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_rounds": -1}, "max_rounds"), ({"accept": "maybe"}, "accept"), ({"patience": 0}, "patience"),
     ({"threshold": 1.2}, "threshold")],
)  # fmt: skip
def test_bad_rules_are_rejected(options, field):
    with pytest.raises(ValueError, match=field):
        RefineRules(**options)


@pytest.mark.parametrize(
    ("scores", "pair"),
    [
        ([0.4, 0.9, 0.1, 0.9], (1, 2)),
        ([0.2, 0.2, 0.5, 0.2], (2, 3)),
        ([0.5, None], None),
        ([0.5, 0.5], None),
        ([], None),
    ],
)
def test_preference_pair_is_the_max_and_min_scored(scores, pair):
    found = preference_pair([Candidate(index=i, score=s) for i, s in enumerate(scores)])
    assert (None if found is None else (found[0].index, found[1].index)) == pair
