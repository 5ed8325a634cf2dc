import pytest

from ttc_plugins.strategies.select import (
    AdaptiveStop,
    best_by_score,
    first_above,
    leader_probability,
    majority_vote,
    weighted_vote,
)


@pytest.mark.parametrize(
    ("answers", "winner", "answer", "weight"),
    [
        (["7", "8", "7"], 0, "7", 2),
        (["8", "7", "7.0", "$7"], 1, "7", 3),  # equivalent spellings are one vote
        (["1/2", "0.5", "3"], 0, "1/2", 2),
        ([None, "5", None, "6", "6"], 3, "6", 2),  # None takes no part
        (["5", "6"], 0, "5", 1),  # a tie goes to the answer that appeared first
        (["6", "5", "5", "6"], 0, "6", 2),
    ],
)
def test_majority_vote(answers, winner, answer, weight):
    vote = majority_vote(answers)
    assert (vote.winner, vote.answer, vote.weight) == (winner, answer, weight)


def test_majority_vote_with_nothing_to_vote_on_is_none():
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


def test_majority_vote_uses_a_custom_equivalence():
    vote = majority_vote(
        ["Paris", "paris, france", "Lyon"], same=lambda a, b: a.split(",")[0].lower() == b.split(",")[0].lower()
    )
    assert (vote.answer, vote.groups) == ("Paris", [[0, 1], [2]])


def test_votes_for_reports_the_group_weight():
    vote = majority_vote(["3", "4", "3", None])
    assert [vote.votes_for(i) for i in range(4)] == [2, 1, 2, 0]


@pytest.mark.parametrize(
    ("answers", "scores", "answer", "weight"),
    [
        (["3", "4", "4"], [0.9, 0.3, 0.4], "3", 0.9),  # one confident answer beats two weak ones
        (["3", "4", "4"], [0.5, 0.3, 0.4], "4", 0.7),
        (["3", "4"], [0.5, 0.5], "3", 0.5),  # tie: the earlier answer
        (["3", "4", "4"], [0.6, 0.6, 0.0], "4", 0.6),  # tie on weight: the larger group
        (["3", "4"], [None, 0.1], "4", 0.1),  # an unscored candidate takes no part
    ],
)
def test_weighted_vote(answers, scores, answer, weight):
    vote = weighted_vote(answers, scores)
    assert vote.answer == answer
    assert vote.weight == pytest.approx(weight)


def test_weighted_vote_needs_one_score_per_answer():
    with pytest.raises(ValueError, match="one score per answer"):
        weighted_vote(["1", "2"], [0.5])


@pytest.mark.parametrize(
    ("scores", "best"),
    [([0.2, 0.9, 0.5], 1), ([0.9, 0.9], 0), ([None, 0.1], 1), ([None, None], None), ([], None)],
)
def test_best_by_score(scores, best):
    assert best_by_score(scores) == best


@pytest.mark.parametrize(
    ("scores", "threshold", "index"),
    [([0.2, 0.8, 0.95], 0.8, 1), ([0.2, None, 0.5], 0.9, None), ([1.0], 1.0, 0)],
)
def test_first_above(scores, threshold, index):
    assert first_above(scores, threshold) == index


@pytest.mark.parametrize(
    ("leader", "runner_up", "probability"),
    [(0, 0, 0.5), (1, 0, 0.75), (2, 2, 0.5), (4, 0, 31 / 32), (3, 1, 0.8125)],
)
def test_leader_probability_is_exact(leader, runner_up, probability):
    assert leader_probability(leader, runner_up) == pytest.approx(probability)


def test_leader_probability_rejects_negative_counts():
    with pytest.raises(ValueError, match="negative"):
        leader_probability(-1, 0)


@pytest.mark.parametrize(
    ("sizes", "samples", "n", "stop"),
    [
        ([3], 3, 8, False),  # 3 votes, 5 still to come: the runner-up could reach 5
        ([5], 5, 8, True),  # 5 > 3 remaining
        ([4, 1], 5, 8, False),  # lead of 3 = 3 remaining: a tie is still possible
        ([5, 1], 6, 8, True),
        ([2], 2, 8, False),  # below min_samples
        ([2, 1], 3, 3, True),  # nothing remaining
    ],
)
def test_unbeatable_rule_never_stops_while_the_outcome_could_change(sizes, samples, n, stop):
    assert AdaptiveStop(rule="unbeatable", min_samples=3).should_stop(sizes, samples=samples, n=n) is stop


@pytest.mark.parametrize(
    ("sizes", "stop"),
    [([3, 0], False), ([4, 0], True), ([5, 1], True), ([5, 3], False)],
)
def test_beta_rule_stops_at_the_confidence(sizes, stop):
    # P(leader): (4,0) 0.969, (5,1) 0.9375, (5,3) 0.746; (3,0) has fewer answers than min_samples
    assert AdaptiveStop(rule="beta", confidence=0.93, min_samples=4).should_stop(sizes, samples=8, n=40) is stop


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rule": "vibes"}, "rule"),
        ({"confidence": 0.4}, "confidence"),
        ({"confidence": 1.0}, "confidence"),
        ({"min_samples": 0}, "min_samples"),
    ],
)
def test_adaptive_stop_rejects_bad_options(options, field):
    with pytest.raises(ValueError, match=field):
        AdaptiveStop(**options)
