"""What self-consistency adds per sample over calling the model directly, on an instant fake model.

Runs ``self_consistency(model, n=16)`` and 16 direct ``model.invoke`` calls under the same budget,
``--runs`` times each, and prints the median of (strategy time - direct time) / 16 in microseconds:
the driver's, the budget's and the vote's cost per sample, with no model time in it. Used to check
that a change to the drivers does not make sampling dearer (compare two commits on the same machine).

Usage: python scripts/sampling_overhead.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import self_consistency

N = 16


def _model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(f"Answer: {i % 3}") for i in range(10**6)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    model = _model()
    strategy = self_consistency(model, n=N, use_provider_n=False)
    per_sample = []
    with budget_scope(Budget(max_total_tokens=10**12)):
        strategy.invoke("q")  # warm-up: imports, tokenizer, thread pool
        for _ in range(runs):
            started = time.perf_counter()
            for _ in range(N):
                model.invoke("q")
            direct = time.perf_counter() - started
            started = time.perf_counter()
            strategy.invoke("q")
            sampled = time.perf_counter() - started
            per_sample.append((sampled - direct) / N * 1e6)
    print(
        f"per-sample overhead: median {statistics.median(per_sample):.0f} us over {runs} runs "
        f"(min {min(per_sample):.0f}, max {max(per_sample):.0f})"
    )


if __name__ == "__main__":
    main()
