import pytest

from ttc_plugins import Candidate
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop


def _cands(answers, start=0, **fields):
    return [Candidate(index=start + i, output=a, answer=a, **fields) for i, a in enumerate(answers)]


def test_without_early_stopping_all_n_are_drawn_in_one_wave():
    plan = SamplingPlan(n=5)
    assert plan.next_wave([]) == 5
    assert plan.next_wave(_cands("12345")) == 0
    assert plan.stop_reason == "done"


def test_a_budget_refusal_stops_sampling():
    plan = SamplingPlan(n=5)
    cands = [*_cands("11"), Candidate(index=2, error="BudgetExceeded: ...", budget_refused=True)]
    assert plan.next_wave(cands) == 0
    assert plan.stop_reason == "budget"


def test_other_failures_do_not_stop_sampling_and_count_as_drawn():
    plan = SamplingPlan(n=3, adaptive=AdaptiveStop(min_samples=1), wave_size=1)
    cands = [Candidate(index=0, error="RuntimeError: boom")]
    assert plan.next_wave(cands) == 1
    assert plan.next_wave([*cands, *_cands("77", start=1)]) == 0
    assert plan.stop_reason == "done"


def test_adaptive_waves_stop_when_the_vote_is_settled():
    plan = SamplingPlan(n=10, adaptive=AdaptiveStop(min_samples=3), wave_size=2)
    drawn = []
    stream = iter("7777777777")
    while wave := plan.next_wave(_cands(drawn)):
        drawn += [next(stream) for _ in range(wave)]
    # 3, then 5, then 7: at 7 the lead of 7 exceeds the 3 remaining
    assert len(drawn) == 7
    assert plan.stop_reason == "converged"


def test_threshold_stops_at_the_first_good_enough_candidate():
    plan = SamplingPlan(n=8, threshold=0.9, wave_size=2)
    assert plan.next_wave([]) == 2
    scored = [c.model_copy(update={"score": s}) for c, s in zip(_cands("12"), [0.3, 0.95], strict=True)]
    assert plan.next_wave(scored) == 0
    assert plan.stop_reason == "threshold"


def test_the_last_wave_never_exceeds_n():
    plan = SamplingPlan(n=4, adaptive=AdaptiveStop(min_samples=3), wave_size=2)
    assert plan.next_wave([]) == 3
    assert plan.next_wave(_cands("123")) == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [({"n": 0}, "n must"), ({"n": -2}, "n must"), ({"n": 2.5}, "n must"), ({"n": 3, "wave_size": 0}, "wave_size"),
     ({"n": 3, "threshold": 1.5}, "threshold")],
)  # fmt: skip
def test_bad_options_are_rejected(options, field):
    with pytest.raises(ValueError, match=field):
        SamplingPlan(**options)
