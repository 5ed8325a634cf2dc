"""Per-method summaries of a run and the side-by-side table ``ttc bench`` prints.

Accuracy counts failed items (the method raised, or gave no answer) as wrong, and carries a 95 %
Wilson interval; tokens and calls are means per item over everything the item's budget was charged
(every role: generator, verifier, DSPy's adapter retries). When the run has a baseline (greedy),
each other method is also compared with it item by item (the accuracy difference on the items both
ran, and McNemar's exact p-value): with a few dozen items two marginal intervals can overlap while
the paired test is clear, and the paired test is the right one for methods run on the same items.

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
from ttc_plugins.bench.stats import mcnemar_exact, wilson_interval

__all__ = ["BASELINE", "MethodSummary", "PairedComparison", "format_table", "summarise"]

BASELINE = "greedy"


@dataclass(frozen=True)
class PairedComparison:
    """A method against the baseline on the items both ran.

    Attributes:
        baseline: the baseline method's name.
        items: the items both ran.
        difference: the method's accuracy minus the baseline's, on those items.
        only_method / only_baseline: items only the method / only the baseline got right.
        p_value: McNemar's exact two-sided p-value.
    """

    baseline: str
    items: int
    difference: float
    only_method: int
    only_baseline: int
    p_value: float


def _paired(group: Sequence[ItemResult], baseline: Sequence[ItemResult], name: str) -> PairedComparison | None:
    right_by_item = {row.item: row.correct for row in baseline}
    pairs = [(row.correct, right_by_item[row.item]) for row in group if row.item in right_by_item]
    if not pairs:
        return None
    only_method = sum(method and not base for method, base in pairs)
    only_baseline = sum(base and not method for method, base in pairs)
    return PairedComparison(
        baseline=name,
        items=len(pairs),
        difference=(only_method - only_baseline) / len(pairs),
        only_method=only_method,
        only_baseline=only_baseline,
        p_value=mcnemar_exact(only_method, only_baseline),
    )


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
        samples / failed_samples: samples (DSPy: attempts) drawn, and those that errored, including
            the items where every sample failed (the strategy's ``AllCandidatesFailed`` carries them);
            an item where a method raised anything else adds to ``failures`` only.
        mean_seconds: wall time per item (context only: these are not timed tests).
        vs_baseline: the paired comparison with the baseline (None for the baseline itself, or
            when the run has none).
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
    vs_baseline: PairedComparison | None = None

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    @property
    def failure_rate(self) -> float:
        return self.failures / self.items if self.items else 0.0

    @property
    def sample_failure_rate(self) -> float:
        return self.failed_samples / self.samples if self.samples else 0.0


def summarise(rows: Sequence[ItemResult], *, baseline: str | None = BASELINE) -> list[MethodSummary]:
    """One :class:`MethodSummary` per method, in the order the methods first appear.

    Args:
        rows: every item's result, all methods.
        baseline: the method every other one is paired with, if it is in the run (None: no pairing).
    """
    by_method: dict[str, list[ItemResult]] = {}
    for row in rows:
        by_method.setdefault(row.method, []).append(row)
    base_rows = by_method.get(baseline) if baseline is not None else None
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
                vs_baseline=_paired(group, base_rows, baseline) if base_rows and method != baseline else None,
            )
        )
    return summaries


_HEADERS = (
    "method",
    "n",
    "accuracy (95% CI)",
    "vs greedy",
    "tokens/item",
    "calls/item",
    "failed items",
    "failed samples",
    "s/item",
)


def _paired_cell(comparison: PairedComparison | None) -> str:
    if comparison is None:
        return "-"
    p = comparison.p_value
    shown = "1" if p >= 0.9995 else f"{p:.3f}".lstrip("0") if p >= 0.001 else f"{p:.0e}"
    return f"{comparison.difference:+.2f} p={shown}"


def _cells(summary: MethodSummary, oracle_like: bool) -> tuple[str, ...]:
    mark = " *" if oracle_like else ""
    return (
        summary.method + mark,
        str(summary.items),
        f"{summary.accuracy:.2f} ({summary.low:.2f}-{summary.high:.2f})",
        _paired_cell(summary.vs_baseline),
        f"{summary.mean_tokens:,.0f}",
        f"{summary.mean_calls:.1f}",
        f"{summary.failure_rate:.0%}",
        f"{summary.sample_failure_rate:.0%}",
        f"{summary.mean_seconds:.1f}",
    )


def format_table(summaries: Sequence[MethodSummary], *, oracle_like: Sequence[str] = ()) -> str:
    """A plain-text table of the summaries; methods named in ``oracle_like`` get a ``*`` and a footnote.

    "vs greedy" is a method's accuracy minus greedy's on the same items, with McNemar's exact
    p-value ("-" for greedy itself, or without greedy in the run).

    Example:
        >>> greedy = MethodSummary("greedy", 60, 20, 0.22, 0.46, 130.0, 1.0, 0, 60, 0, 1.2)
        >>> paired = PairedComparison("greedy", 60, 0.22, 16, 3, 0.0044)
        >>> sc = MethodSummary("sc@16", 60, 33, 0.42, 0.67, 2100.0, 16.0, 0, 960, 0, 16.0, paired)
        >>> print(format_table([greedy, sc]))
        method   n  accuracy (95% CI)     vs greedy  tokens/item  calls/item  failed items  failed samples  s/item
        ------  --  -----------------  ------------  -----------  ----------  ------------  --------------  ------
        greedy  60   0.33 (0.22-0.46)             -          130         1.0            0%              0%     1.2
        sc@16   60   0.55 (0.42-0.67)  +0.22 p=.004        2,100        16.0            0%              0%    16.0
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
