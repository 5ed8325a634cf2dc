"""Helpers for testing a family's core through ``drive``: real budget refusals and the steps it yielded."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ttc_plugins import Budget, BudgetExceeded
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.steps import FamilyLoop, Step


def refusal_by(budget: Budget) -> BudgetExceeded:
    """The ``BudgetExceeded`` that ``budget`` itself raises once its calls are used up (it needs a ``max_calls``)."""
    for _ in range(1_000):
        try:
            budget.reserve(1, 1).commit(1, 1)
        except BudgetExceeded as refused:
            return refused
    raise AssertionError(f"{budget!r} admitted 1,000 calls")


def recorded(loop: FamilyLoop, steps: list[Step]) -> Generator[Step, list[Any], TTCResult]:
    """``loop`` as it is, appending each step it yields to ``steps`` (to read their roles and progress)."""
    replies: list[Any] | None = None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value
        steps.append(step)
        replies = yield step


def progress_of(steps: list[Step]) -> list[Any]:
    """Every event the steps carried as progress, in order."""
    return [event for step in steps for event in step.progress]
