"""The plain-text spend report of a budget: tokens, calls and cost by role, then its limits.

Example:
    >>> from ttc_plugins._spend import Remaining, Spend
    >>> print(format_report(None, Spend(), {}, Remaining()))  # doctest: +NORMALIZE_WHITESPACE
    role   calls  input  output  total  cost
    total      0      0       0      0     -
    limits: none
"""

from __future__ import annotations

from collections.abc import Mapping

from ttc_plugins._spend import Remaining, Spend, SpendLine

__all__ = ["format_number", "format_report"]

# Each limit's name in Budget.limits, and the field of Remaining that says what is left of it.
_LEFT_OF = {
    "max_total_tokens": "total_tokens",
    "max_input_tokens": "input_tokens",
    "max_output_tokens": "output_tokens",
    "max_calls": "calls",
    "max_cost_usd": "cost_usd",
    "max_seconds": "seconds",
}


def format_number(value: float) -> str:
    """Whole numbers with thousands separators, others to four significant digits.

    Example:
        >>> format_number(12000), format_number(0.012345)
        ('12,000', '0.01235')
    """
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _cells(label: str, line: SpendLine) -> tuple[str, ...]:
    cost = "-" if line.cost_usd is None else f"${line.cost_usd:.4f}"
    return (
        label,
        str(line.calls),
        f"{line.input_tokens:,}",
        f"{line.output_tokens:,}",
        f"{line.total_tokens:,}",
        cost,
    )


def format_report(name: str | None, spend: Spend, limits: Mapping[str, float], remaining: Remaining) -> str:
    """The report :meth:`Budget.report <ttc_plugins.Budget.report>` prints."""
    rows = [("role", "calls", "input", "output", "total", "cost")]
    rows += [_cells(role, line) for role, line in sorted(spend.by_role.items())]
    rows.append(_cells("total", spend))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)) for r in rows
    ]
    if spend.failed_calls:
        lines.append(f"failed calls (reservations released): {spend.failed_calls}")
    left = remaining.model_dump()
    parts = [
        f"{limit} {format_number(value)} ({format_number(left[_LEFT_OF[limit]])} left)"
        for limit, value in limits.items()
    ]
    lines.append("limits: " + (", ".join(parts) if parts else "none"))
    title = f"budget {name!r}\n" if name else ""
    return title + "\n".join(line.rstrip() for line in lines)
