"""Budgets for tests of the budget stopping a run part-way."""

from __future__ import annotations

from typing import Any

from ttc_plugins import Budget


def budget_with_calls_left(max_calls: int, left: int, **limits: Any) -> Budget:
    """A shared budget of ``max_calls`` whose earlier work has left ``left`` calls.

    A strategy refuses an ``n`` above ``max_calls`` before any call (it could never be drawn), so a
    test of the budget stopping sampling part-way uses a budget that other work has been drawing on.
    """
    budget = Budget(max_calls=max_calls, **limits)
    for _ in range(max_calls - left):
        budget.reserve(0, 0, role="earlier work").commit(0, 0)
    return budget
