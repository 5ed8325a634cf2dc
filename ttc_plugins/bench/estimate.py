"""How long a run will take: typical calls per method, scaled by a measured call on this endpoint.

A benchmark on a small local model can run for an hour; saying so before it starts, with the numbers
behind the guess, lets the user shrink it (``--items``, ``--methods``) instead of finding out later.

Example:
    >>> from ttc_plugins.bench.methods import parse_method_names
    >>> estimate_calls(parse_method_names("greedy,sc@8"), items=10)
    90.0
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from ttc_plugins.bench.items import BenchItem
from ttc_plugins.bench.methods import BenchMethod, MethodSpec

__all__ = ["estimate_calls", "estimate_line", "seconds_per_call"]


def estimate_calls(specs: Sequence[MethodSpec], items: int) -> float:
    """A rough number of model calls for the run (typical counts from the pilot, not a bound)."""
    return float(items * sum(spec.info.expected_calls(spec.k) for spec in specs))


def seconds_per_call(method: BenchMethod, item: BenchItem, probes: int = 2) -> float:
    """Time ``probes`` one-call answers (outside any item budget) and keep the fastest.

    The first call to a freshly started server is often several times slower than the rest
    (measured on the embedded model: 14 s, then 1.3 s), and would inflate the estimate tenfold.
    """
    timings = []
    for _ in range(probes):
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # the estimate is a courtesy; a failing call shows up in the run
            method.solve(item)
        timings.append(time.perf_counter() - started)
    return min(timings)


def estimate_line(calls: float, per_call: float) -> str:
    """The estimate as printed before a run.

    Example:
        >>> print(estimate_line(792, 1.3))  # doctest: +NORMALIZE_WHITESPACE
        estimate: ~792 model calls x ~1.3 s (the faster of two warm-up calls) = ~17 min
        if calls run one at a time, as on the embedded model's server
    """
    return (
        f"estimate: ~{calls:,.0f} model calls x ~{per_call:.1f} s (the faster of two warm-up calls) = "
        f"~{calls * per_call / 60:.0f} min if calls run one at a time, as on the embedded model's server"
    )
