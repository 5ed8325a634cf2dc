"""Run every method on every item, each under its own per-item budget, and record what it cost.

Items are the outer loop and methods the inner one, so an interrupted run has compared all methods on
the same items so far. Each (item, method) gets a fresh :class:`~ttc_plugins.Budget` capped at
``item_budget`` tokens and made current with ``budget_scope``: every model call inside, whoever makes
it (the generator, the judge, DSPy's LM), is reserved against the cap and counted in the row. A
method that raises, or answers nothing, is recorded as failed and wrong; the run goes on.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from ttc_plugins.bench.items import BenchItem
    >>> from ttc_plugins.bench.methods import BenchModels, build_methods, parse_method_names
    >>> model = FakeListChatModel(responses=["Answer: 13"])
    >>> methods = build_methods(parse_method_names("greedy"), BenchModels(greedy=model, sampler=model))
    >>> rows = run_benchmark([BenchItem(0, "Calculate 9 + 4.", "13")], methods, progress=False)
    >>> rows[0].correct, rows[0].calls
    (True, 1)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from ttc_plugins.bench.items import BenchItem
from ttc_plugins.bench.methods import BenchMethod, MethodOutcome
from ttc_plugins.bench.records import ItemResult
from ttc_plugins.budget import Budget, budget_scope
from ttc_plugins.results import AllCandidatesFailed, Candidate

__all__ = ["DEFAULT_ITEM_BUDGET", "run_benchmark", "run_one"]

# sc@16 on the embedded model spends about 2,100 tokens an item; bon-judge@4 about 1,200. 6,000 leaves
# room for a verbose model without letting one runaway item dominate the mean.
DEFAULT_ITEM_BUDGET = 6_000


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 500 else text[:497] + "..."


def run_one(item: BenchItem, method: BenchMethod, *, item_budget: int = DEFAULT_ITEM_BUDGET) -> ItemResult:
    """Run ``method`` on ``item`` under a fresh budget of ``item_budget`` tokens; never raises for its failures."""
    budget = Budget(max_total_tokens=item_budget, name=f"{method.name} item {item.index}")
    outcome: MethodOutcome | None = None
    error: str | None = None
    drawn: list[Candidate] = []  # the samples of a strategy that raised because all of them failed
    started = time.perf_counter()
    try:
        with method.context(), budget_scope(budget):
            outcome = method.solve(item)
    except Exception as raised:  # the method's failure is a measurement: record it and carry on
        error = _error_text(raised)
        drawn = raised.candidates if isinstance(raised, AllCandidatesFailed) else []
    seconds = time.perf_counter() - started
    spend = budget.spent
    answer = outcome.answer if outcome is not None else None
    return ItemResult(
        method=method.name,
        item=item.index,
        question=item.question,
        expected=item.answer,
        answer=answer,
        correct=error is None and item.is_right(answer),
        failed=error is not None or answer is None,
        error=error,
        input_tokens=spend.input_tokens,
        output_tokens=spend.output_tokens,
        calls=spend.calls,
        failed_calls=spend.failed_calls,
        tokens_by_role={role: line.total_tokens for role, line in spend.by_role.items()},
        seconds=round(seconds, 3),
        stop_reason=outcome.stop_reason if outcome is not None else None,
        samples=outcome.samples if outcome is not None else len(drawn),
        failed_samples=outcome.failed_samples if outcome is not None else sum(c.error is not None for c in drawn),
        output=outcome.output if outcome is not None else None,
        sample_answers=list(outcome.sample_answers) if outcome is not None else [],
        sample_tokens=[list(pair) for pair in outcome.sample_tokens] if outcome is not None else [],
    )


def run_benchmark(
    items: Sequence[BenchItem],
    methods: Sequence[BenchMethod],
    *,
    item_budget: int = DEFAULT_ITEM_BUDGET,
    on_result: Callable[[ItemResult], None] | None = None,
    progress: bool = True,
) -> list[ItemResult]:
    """Run every method on every item; returns one :class:`ItemResult` per (item, method), items first.

    Args:
        items: the questions.
        methods: from :func:`~ttc_plugins.bench.methods.build_methods`.
        item_budget: the token cap for one method on one item (all calls, all roles).
        on_result: called with each row as soon as it is ready (e.g. a JSONL writer).
        progress: show a progress bar over items × methods on stderr.
    """
    if item_budget < 1:
        raise ValueError(f"item_budget must be a positive number of tokens, got {item_budget}")
    from tqdm import tqdm

    rows: list[ItemResult] = []
    with tqdm(total=len(items) * len(methods), disable=not progress, unit="run", file=sys.stderr) as bar:
        for item in items:
            for method in methods:
                bar.set_description(f"item {item.index + 1}/{len(items)} {method.name}")
                row = run_one(item, method, item_budget=item_budget)
                rows.append(row)
                if on_result is not None:
                    on_result(row)
                bar.update(1)
    return rows
