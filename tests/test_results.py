import math

import pytest

from ttc_plugins import Candidate, InvalidVerdict, TTCResult, Verdict, parse_verdict


@pytest.mark.parametrize(
    ("raw", "score", "is_correct"),
    [
        (True, 1.0, True),
        (False, 0.0, False),
        (0.25, 0.25, None),
        (1, 1.0, None),
        ({"score": 0.5, "critique": "ok"}, 0.5, None),
        ({"is_correct": True}, 1.0, True),
        (Verdict(score=0.9, is_correct=True), 0.9, True),
    ],
)
def test_verifier_replies_that_are_verdicts(raw, score, is_correct):
    verdict = parse_verdict(raw)
    assert (verdict.score, verdict.is_correct) == (score, is_correct)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (1.5, "outside [0, 1]"),
        (-0.1, "outside [0, 1]"),
        (math.nan, "NaN"),
        ("score: 9/10", "not a Verdict"),
        (None, "not a Verdict"),
        ({"critique": "great"}, "without a score"),
        ({"score": "high"}, "non-numeric"),
        ({"score": 0.5, "is_correct": "maybe"}, "invalid verdict"),
    ],
)
def test_garbage_from_a_verifier_is_an_invalid_verdict(raw, fragment):
    with pytest.raises(InvalidVerdict, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_verdict(raw)


def test_result_exposes_the_chosen_candidate_and_the_failures():
    result = TTCResult(
        output="B",
        answer="b",
        candidates=[
            Candidate(index=0, output="A", answer="a", votes=1),
            Candidate(index=1, error="TimeoutError: sample 1"),
            Candidate(index=2, output="B", answer="b", votes=2),
        ],
        chosen=2,
        stop_reason="budget",
    )
    assert result.chosen_candidate.output == "B"
    assert [c.index for c in result.failures] == [1]
    assert TTCResult.model_validate_json(result.model_dump_json()).chosen_candidate.votes == 2


def test_stop_reason_is_one_of_the_documented_values():
    with pytest.raises(ValueError, match="stop_reason"):
        TTCResult(stop_reason="tired")
