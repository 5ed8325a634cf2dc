import pytest

from ttc_plugins.bench.stats import wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        (0, 10, (0.0, 0.2775)),
        (5, 10, (0.2366, 0.7634)),
        (10, 10, (0.7225, 1.0)),
        (24, 60, (0.2857, 0.5263)),  # the pilot's greedy 0.40 (0.29-0.53)
        (45, 60, (0.6277, 0.8422)),  # the pilot's majority of 16: 0.75 (0.63-0.84)
        (1, 1, (0.2065, 1.0)),
    ],
)
def test_known_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert (round(low, 4), round(high, 4)) == expected


def test_the_bounds_are_exact_at_the_ends():
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0


def test_the_interval_holds_the_observed_rate_and_narrows_with_more_items():
    for trials in (5, 20, 80):
        low, high = wilson_interval(trials // 2, trials)
        assert low < (trials // 2) / trials < high
    assert (
        wilson_interval(40, 80)[1] - wilson_interval(40, 80)[0] < wilson_interval(5, 10)[1] - wilson_interval(5, 10)[0]
    )


def test_no_items_means_nothing_is_known():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "trials"), [(-1, 5), (6, 5), (0, -1)])
def test_impossible_counts_are_refused(successes, trials):
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(successes, trials)
