"""Confidence intervals for the benchmark's accuracies.

An accuracy over a few dozen items is a binomial proportion with wide error; the Wilson score interval
stays inside [0, 1] and keeps close to its nominal coverage at small n and at 0 % or 100 %, where the
textbook normal interval collapses to a single point.

Two methods run on the same items are compared item by item: McNemar's exact test looks only at
the items where exactly one of them was right, which is far more sensitive than asking whether two
marginal intervals overlap.

Example:
    >>> low, high = wilson_interval(24, 60)
    >>> round(low, 3), round(high, 3)
    (0.286, 0.526)
    >>> round(mcnemar_exact(3, 16), 4)  # 3 items only the first got right, 16 only the second
    0.0044
"""

from __future__ import annotations

import math

__all__ = ["Z_95", "mcnemar_exact", "wilson_interval"]

Z_95 = 1.959963984540054
"""The standard normal quantile for a two-sided 95 % interval."""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``trials`` (95 % by default).

    Args:
        successes: how many items were right.
        trials: how many items there were; with none, nothing is known and the interval is [0, 1].
        z: the normal quantile for the confidence level.

    Returns:
        ``(low, high)``, both in [0, 1].

    Raises:
        ValueError: negative counts, or more successes than trials.

    Example:
        >>> [tuple(round(bound, 4) for bound in wilson_interval(k, 10)) for k in (0, 5, 10)]
        [(0.0, 0.2775), (0.2366, 0.7634), (0.7225, 1.0)]
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0/n and n/n the bound is exactly 0 or 1; floating point would land a hair inside or outside.
    low = 0.0 if successes == 0 else center - half_width
    high = 1.0 if successes == trials else center + half_width
    return low, high


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """The two-sided exact McNemar p-value for a paired comparison of two methods on the same items.

    Under "the methods are equally accurate", each item that only one method got right is equally
    likely to favour either, so the smaller count is a Binomial(discordant, 1/2) tail, doubled.

    Args:
        only_first: items the first method got right and the second wrong.
        only_second: items the second method got right and the first wrong.

    Returns:
        The p-value in [0, 1]; 1.0 when no item separates them.

    Raises:
        ValueError: a negative count.

    Example:
        >>> mcnemar_exact(0, 0), mcnemar_exact(5, 5), round(mcnemar_exact(0, 6), 4)
        (1.0, 1.0, 0.0312)
    """
    if only_first < 0 or only_second < 0:
        raise ValueError(f"counts must be non-negative, got {only_first} and {only_second}")
    discordant = only_first + only_second
    tail = sum(math.comb(discordant, k) for k in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**discordant)
