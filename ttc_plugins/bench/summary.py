"""Per-method summaries of a run and the side-by-side table ``ttc bench`` prints.

Accuracy counts failed items (the method raised, or gave no answer) as wrong, and carries a 95 %
Wilson interval; tokens and calls are means per item over everything the item's budget was charged
(every role: generator, verifier, DSPy's adapter retries).

Example:
    >>> from ttc_plugins.bench.records import ItemResult
    >>> rows = [ItemResult(method="greedy", item=i, question="q", expected="1", answer="1" if i else None,
    ...                    correct=bool(i), failed=not i, input_tokens=60, output_tokens=40, calls=1)
    ...         for i in range(4)]
    >>> (summary,) = summarise(rows)
    >>> summary.accuracy, summary.failure_rate, summary.mean_tokens
    (0.75, 0.25, 100.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ttc_plugins.bench.records import ItemResult
from ttc_plugins.bench.stats import wilson_interval

__all__ = ["MethodSummary", "format_table", "summarise"]


@dataclass(frozen=True)
class MethodSummary:
    """One method's results over the run.

    Attributes:
        method: its name.
        items: items it ran on.
        correct: items it got right.
        low / high: the 95 % Wilson interval of the accuracy.
        mean_tokens / mean_calls: per item, all roles, input + output.
        failures: items where it raised or gave no answer.
        samples / failed_samples: samples (DSPy: attempts) drawn, and those that errored, over the
            items where the method returned; an item where it raised (e.g. every sample failed) is
            counted in ``failures`` only, since the strategy's exception does not say how many it drew.
        mean_seconds: wall time per item (context only: these are not timed tests).
    """

    method: str
    items: int
    correct: int
    low: float
    high: float
    mean_tokens: float
    mean_calls: float
    failures: int
    samples: int
    failed_samples: int
    mean_seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    @property
    def failure_rate(self) -> float:
        return self.failures / self.items if self.items else 0.0

    @property
    def sample_failure_rate(self) -> float:
        return self.failed_samples / self.samples if self.samples else 0.0


def summarise(rows: Sequence[ItemResult]) -> list[MethodSummary]:
    """One :class:`MethodSummary` per method, in the order the methods first appear."""
    by_method: dict[str, list[ItemResult]] = {}
    for row in rows:
        by_method.setdefault(row.method, []).append(row)
    summaries = []
    for method, group in by_method.items():
        n = len(group)
        correct = sum(row.correct for row in group)
        low, high = wilson_interval(correct, n)
        summaries.append(
            MethodSummary(
                method=method,
                items=n,
                correct=correct,
                low=low,
                high=high,
                mean_tokens=sum(row.total_tokens for row in group) / n,
                mean_calls=sum(row.calls for row in group) / n,
                failures=sum(row.failed for row in group),
                samples=sum(row.samples for row in group),
                failed_samples=sum(row.failed_samples for row in group),
                mean_seconds=sum(row.seconds for row in group) / n,
            )
        )
    return summaries


_HEADERS = ("method", "n", "accuracy (95% CI)", "tokens/item", "calls/item", "failed items", "failed samples", "s/item")


def _cells(summary: MethodSummary, oracle_like: bool) -> tuple[str, ...]:
    mark = " *" if oracle_like else ""
    return (
        summary.method + mark,
        str(summary.items),
        f"{summary.accuracy:.2f} ({summary.low:.2f}-{summary.high:.2f})",
        f"{summary.mean_tokens:,.0f}",
        f"{summary.mean_calls:.1f}",
        f"{summary.failure_rate:.0%}",
        f"{summary.sample_failure_rate:.0%}",
        f"{summary.mean_seconds:.1f}",
    )


def format_table(summaries: Sequence[MethodSummary], *, oracle_like: Sequence[str] = ()) -> str:
    """A plain-text table of the summaries; methods named in ``oracle_like`` get a ``*`` and a footnote.

    Example:
        >>> s = MethodSummary("bon-check@4", 10, 9, 0.6, 0.98, 500.0, 3.2, 0, 32, 0, 4.0)
        >>> print(format_table([s], oracle_like=["bon-check@4"]))
        method          n  accuracy (95% CI)  tokens/item  calls/item  failed items  failed samples  s/item
        -------------  --  -----------------  -----------  ----------  ------------  --------------  ------
        bon-check@4 *  10   0.90 (0.60-0.98)          500         3.2            0%              0%     4.0
        * oracle-like: a programmatic calculator check that knows the right answer picks the sample.
    """
    rows = [_HEADERS, *(_cells(s, s.method in oracle_like) for s in summaries)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]

    def line(cells: Sequence[str]) -> str:
        # Names left-aligned, figures right-aligned, so their digits line up.
        parts = [
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines = [line(rows[0]), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in rows[1:]]
    if any(s.method in oracle_like for s in summaries):
        lines.append("* oracle-like: a programmatic calculator check that knows the right answer picks the sample.")
    return "\n".join(lines)
