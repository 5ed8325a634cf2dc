"""Under any number of concurrent calls, committed + reserved never exceeds a hard limit."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given, settings
from hypothesis import strategies as st

from ttc_plugins import Budget, BudgetExceeded


def _used(budget: Budget) -> tuple[int, int]:
    # Read under the budget's own lock so the snapshot is consistent.
    with budget._lock:
        tokens = (
            budget._committed.input_tokens
            + budget._committed.output_tokens
            + budget._held.input_tokens
            + budget._held.output_tokens
        )
        calls = budget._committed.calls + budget._held.calls
    return tokens, calls


class _Watcher:
    """Samples the ledger after every reservation and remembers the worst moment seen."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.peak_tokens = 0
        self.peak_calls = 0
        self._lock = threading.Lock()

    def sample(self) -> None:
        tokens, calls = _used(self.budget)
        with self._lock:
            self.peak_tokens = max(self.peak_tokens, tokens)
            self.peak_calls = max(self.peak_calls, calls)


def _fake_call(budget: Budget, watcher: _Watcher, prompt: int, cap: int, used_out: int, fail: bool) -> str:
    try:
        reservation = budget.reserve(prompt, cap)
    except BudgetExceeded:
        return "refused"
    watcher.sample()
    if fail:
        reservation.release()
        return "failed"
    reservation.commit(prompt, min(used_out, cap))
    watcher.sample()
    return "done"


calls_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=300),  # counted prompt tokens
        st.integers(min_value=1, max_value=300),  # the call's max output tokens
        st.integers(min_value=0, max_value=300),  # what the fake model actually produces
        st.sampled_from([False, False, False, True]),  # about a quarter of the calls raise
    ),
    min_size=1,
    max_size=64,
)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=4_000),
    max_calls=st.one_of(st.none(), st.integers(min_value=1, max_value=40)),
    calls=calls_strategy,
)
def test_threads_never_overshoot(limit, max_calls, calls):
    budget = Budget(max_total_tokens=limit, max_calls=max_calls)
    watcher = _Watcher(budget)
    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(lambda c: _fake_call(budget, watcher, *c), calls))
    spend = budget.spent
    assert watcher.peak_tokens <= limit
    assert spend.total_tokens <= limit
    if max_calls is not None:
        assert watcher.peak_calls <= max_calls
        assert spend.calls <= max_calls
    assert spend.calls == outcomes.count("done")
    assert spend.failed_calls == outcomes.count("failed")
    assert _used(budget) == (spend.total_tokens, spend.calls)  # nothing left held


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(min_value=50, max_value=3_000), calls=calls_strategy)
def test_asyncio_tasks_never_overshoot(limit, calls):
    budget = Budget(max_total_tokens=limit)
    watcher = _Watcher(budget)

    async def one(prompt: int, cap: int, used_out: int, fail: bool) -> str:
        try:
            reservation = budget.reserve(prompt, cap)
        except BudgetExceeded:
            return "refused"
        watcher.sample()
        await asyncio.sleep(0)  # let the other tasks interleave while this call is in flight
        if fail:
            reservation.release()
            return "failed"
        reservation.commit(prompt, min(used_out, cap))
        return "done"

    async def main() -> list[str]:
        return await asyncio.gather(*(one(*c) for c in calls))

    outcomes = asyncio.run(main())
    assert watcher.peak_tokens <= limit
    assert budget.spent.total_tokens <= limit
    assert budget.spent.calls == outcomes.count("done")


def test_32_concurrent_calls_against_a_child_and_its_parent():
    parent = Budget(max_total_tokens=1_000)
    child = parent.child(max_total_tokens=600)
    watchers = [_Watcher(parent), _Watcher(child)]

    def call(i: int) -> str:
        target = child if i % 2 else parent
        outcome = _fake_call(target, watchers[i % 2], 40, 60, 50, False)
        for w in watchers:
            w.sample()
        return outcome

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(call, range(32)))
    assert watchers[0].peak_tokens <= 1_000
    assert watchers[1].peak_tokens <= 600
    assert parent.spent.total_tokens <= 1_000
    # Each call reserves 100 and commits 90, so at least 10 of the 32 must have been refused.
    assert outcomes.count("refused") >= 32 - 1_000 // 90
