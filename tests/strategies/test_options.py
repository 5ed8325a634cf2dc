import math

import pytest

from ttc_plugins import Budget, Candidate, budget_scope
from ttc_plugins.results import parse_verdict, short_repr
from ttc_plugins.strategies.candidates import apply_verdict, output_text
from ttc_plugins.strategies.options import (
    MAX_COUNT,
    calls_admitted,
    check_samples_fit,
    check_temperature,
    check_threshold,
)
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 10**9}, "n must be a positive integer of at most 1000"),
        ({"n": 10**5000}, "an integer of about 5001 digits"),
        ({"n": MAX_COUNT, "wave_size": 10**9}, "wave_size must be a positive integer of at most 1000"),
        ({"n": 4, "threshold": "0.5"}, r"threshold must be a score in \[0, 1\], got '0.5' \(a str\); pass a number"),
        ({"n": 4, "threshold": math.nan}, r"threshold must be a score in \[0, 1\], got nan"),
        ({"n": 4, "adaptive": "yes"}, "adaptive must be True, False or an AdaptiveStop"),
    ],
    ids=short_repr,  # pytest's own ids would repr 10**5000, which Python refuses to print
)
def test_a_sampling_plan_refuses_bad_options_with_a_value_error(options, message):
    with pytest.raises(ValueError, match=message):
        SamplingPlan(**options)


@pytest.mark.parametrize("confidence", ["0.9", math.nan, 1.0])
def test_an_adaptive_rule_needs_a_real_confidence(confidence):
    with pytest.raises(ValueError, match=r"AdaptiveStop.confidence must be a number in \(0.5, 1\)"):
        AdaptiveStop(rule="beta", confidence=confidence)


@pytest.mark.parametrize("value", ["hot", -1, math.nan, math.inf, True, 10**400], ids=short_repr)
def test_a_temperature_is_a_finite_number_of_at_least_zero(value):
    with pytest.raises(ValueError, match="temperature must be a number of at least 0"):
        check_temperature(value)


def test_good_numbers_pass_as_floats():
    assert (check_threshold(1), check_threshold(None), check_temperature(0)) == (1.0, None, 0.0)


def test_calls_admitted_is_the_tightest_max_calls_up_the_chain():
    assert calls_admitted(Budget(max_calls=5).child(max_calls=20).child()) == 5
    assert calls_admitted(None) is None


def test_n_above_max_calls_is_refused_unless_the_run_can_stop_early():
    with budget_scope(Budget(max_calls=5)):
        with pytest.raises(ValueError, match=r"n=8 samples can never fit in the budget's max_calls=5"):
            SamplingPlan(8).check_fits()
        SamplingPlan(8, adaptive=AdaptiveStop()).check_fits()  # a ceiling it may never reach
        SamplingPlan(8, threshold=0.9).check_fits()
        SamplingPlan(5).check_fits()
    SamplingPlan(8).check_fits()  # no budget, no limit
    check_samples_fit(8, Budget(max_calls=8))


@pytest.mark.parametrize(
    "raw", [10**5000, -(10**5000), math.inf, math.nan, 1e308, {"score": 10**5000}, {"score": math.inf}], ids=short_repr
)
def test_a_huge_or_non_finite_score_is_an_invalid_verdict_not_a_crash(raw):
    failed = apply_verdict(Candidate(index=0, output="Answer: 4"), raw)
    assert failed.error.startswith("verification failed: verifier returned")
    assert failed.score is None


def test_the_message_about_a_huge_score_says_how_big_it_is():
    with pytest.raises(ValueError, match="outside \\[0, 1\\]: an integer of about 5001 digits"):
        parse_verdict(10**5000)


@pytest.mark.parametrize(
    ("output", "text"),
    [
        (["Answer: 4"], "Answer: 4"),
        (["thinking", "Answer: 4"], "thinking\nAnswer: 4"),
        ([("user", "What is 2 + 5?"), ("ai", "Answer: 4")], "Answer: 4"),
        ([{"role": "user", "content": "2 + 5?"}, {"role": "assistant", "content": "Answer: 4"}], "Answer: 4"),
        ({"messages": [("user", "What is 2 + 5?"), ("ai", "Answer: 4")]}, "Answer: 4"),
        ([], ""),
    ],
)
def test_a_list_output_is_read_as_text_never_as_its_repr(output, text):
    assert output_text(output) == text
