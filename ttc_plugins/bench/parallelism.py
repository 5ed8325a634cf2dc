"""Does self-consistency really sample in parallel? Time it against a fake model that only sleeps.

The acceptance criterion: with 16 samples against a fake model that takes 0.2 s per call and
``max_concurrency=16``, the wrapper's wall time is close to one call's, not sixteen. This measures it
(at concurrency 1 for contrast) and reports; it asserts nothing, since wall times on a shared machine
are measurements, not test outcomes.

Example:
    >>> m = measure_parallelism(samples=4, delay=0.01, concurrencies=(1, 4))
    >>> sorted(m.seconds), m.samples
    ([1, 4], 4)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ParallelismMeasurement", "measure_parallelism"]


@dataclass(frozen=True)
class ParallelismMeasurement:
    """Wall seconds of one ``self_consistency(fake, n=samples)`` run per ``max_concurrency``."""

    samples: int
    delay: float
    seconds: dict[int, float]

    def report(self) -> str:
        """Lines for the terminal: each wall time in seconds and in single calls, and the speed-up."""
        lines = [f"self_consistency(n={self.samples}) over a fake model that sleeps {self.delay:.2f} s per call:"]
        for concurrency, seconds in sorted(self.seconds.items()):
            lines.append(
                f"  max_concurrency={concurrency:>2}: {seconds:6.2f} s wall = {seconds / self.delay:5.1f} calls' time"
            )
        if len(self.seconds) >= 2:
            low, high = min(self.seconds), max(self.seconds)
            lines.append(
                f"  speed-up {low} -> {high}: {self.seconds[low] / self.seconds[high]:.1f}x "
                f"(ideal {min(high, self.samples) / low:.0f}x; "
                f"ideal wall at {high}: {self.delay * -(-self.samples // high):.2f} s)"
            )
        return "\n".join(lines)


def measure_parallelism(
    samples: int = 16, delay: float = 0.2, concurrencies: Sequence[int] = (1, 16)
) -> ParallelismMeasurement:
    """Time ``self_consistency(fake, n=samples)`` at each ``max_concurrency``; the fake sleeps ``delay`` s a call.

    The fake is a ``RunnableLambda`` (no model, no network, no budget); every call answers "Answer: 7".
    """
    from langchain_core.runnables import RunnableLambda

    from ttc_plugins.langchain import self_consistency

    def slow_model(question: str) -> str:
        time.sleep(delay)
        return "Answer: 7"

    voter = self_consistency(RunnableLambda(slow_model), n=samples)
    seconds: dict[int, float] = {}
    for concurrency in concurrencies:
        started = time.perf_counter()
        voter.invoke("What is 3 + 4?", {"max_concurrency": concurrency})
        seconds[concurrency] = time.perf_counter() - started
    return ParallelismMeasurement(samples=samples, delay=delay, seconds=seconds)
