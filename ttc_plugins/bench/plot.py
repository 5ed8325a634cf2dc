"""The accuracy-versus-tokens plot: where each method lands, with its 95 % interval as error bars.

Test-time compute is a trade of tokens for accuracy, so the question a reader asks is "how much
accuracy per token, compared with what": one point per method, x = mean tokens per item (log scale,
since sample counts double), y = accuracy, vertical bars = the Wilson interval. Oracle-like methods
are drawn hollow so they are not mistaken for fair peers.

Example:
    >>> import os, tempfile
    >>> from ttc_plugins.bench.summary import MethodSummary
    >>> points = [MethodSummary("greedy", 30, 12, 0.25, 0.58, 130.0, 1.0, 0, 30, 0, 1.0),
    ...           MethodSummary("sc@8", 30, 19, 0.45, 0.78, 1040.0, 8.0, 0, 240, 0, 8.0)]
    >>> path = plot_accuracy_vs_tokens(points, os.path.join(tempfile.mkdtemp(), "plot.png"), title="demo")
    >>> path.stat().st_size > 0
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ttc_plugins.bench.summary import MethodSummary

__all__ = ["plot_accuracy_vs_tokens"]


def plot_accuracy_vs_tokens(
    summaries: Sequence[MethodSummary],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    oracle_like: Sequence[str] = (),
) -> Path:
    """Save the accuracy-vs-mean-tokens plot as a PNG and return its path.

    Args:
        summaries: one point per method.
        path: where to write the PNG (its folder is created).
        title: the plot's title (the model and the task, say).
        oracle_like: methods to draw hollow and footnote as oracle-like checks.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server, and no GUI toolkit needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(10, 5.5))
    try:
        for summary in summaries:
            hollow = summary.method in oracle_like
            errors = [[summary.accuracy - summary.low], [summary.high - summary.accuracy]]
            x = max(summary.mean_tokens, 1.0)  # a method that spent nothing still gets a point on the log axis
            axes.errorbar(
                [x],
                [summary.accuracy],
                yerr=errors,
                fmt="o",
                capsize=4,
                markerfacecolor="white" if hollow else None,
                label=summary.method + (" (oracle-like check)" if hollow else ""),
            )
            axes.annotate(summary.method, (x, summary.accuracy), textcoords="offset points", xytext=(6, 4), fontsize=8)
        axes.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:,.0f}")  # "2,000", not "2x10^3"
        axes.xaxis.set_minor_locator(LogLocator(base=10, subs=(2, 3, 5)))  # few enough labels not to collide
        axes.xaxis.set_major_formatter(plain)
        axes.xaxis.set_minor_formatter(plain)
        axes.tick_params(axis="x", which="minor", labelsize=7)
        axes.set_xlabel("mean tokens per item (input + output, all calls)")
        axes.set_ylabel("accuracy (bars: 95% Wilson interval)")
        axes.set_ylim(0, 1.02)
        axes.grid(True, which="both", alpha=0.3)
        axes.set_title(title)
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never covers a point
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)
    return path
