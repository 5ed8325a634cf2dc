"""``ttc bench``: test-time-compute methods side by side on the same model, items and budget.

Each method answers each item under its own token budget; the report gives accuracy with a 95 %
Wilson interval next to the mean tokens and calls it cost (all roles), the failure rate, a plot of
accuracy against tokens and the raw per-item rows. DSPy's own ``majority`` and ``BestOfN`` run in the
same loop, through the same budget, as peers. Needs ``pip install 'ttc-plugins[bench,local]'`` (and
``[dspy]`` for the DSPy peers). Run it as ``ttc bench``; see ``ttc bench --help``.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from ttc_plugins.bench import BenchItem, BenchModels, build_methods, parse_method_names
    >>> from ttc_plugins.bench import run_benchmark, summarise
    >>> model = FakeListChatModel(responses=["Answer: 13", "Answer: 12", "Answer: 13"])
    >>> methods = build_methods(parse_method_names("sc@3"), BenchModels(greedy=model, sampler=model, concurrency=1))
    >>> rows = run_benchmark([BenchItem(0, "Calculate 9 + 4.", "13")], methods, progress=False)
    >>> (summary,) = summarise(rows)
    >>> summary.accuracy, summary.mean_calls
    (1.0, 3.0)
"""

from ttc_plugins.bench.calculator import (
    NotArithmetic,
    calculator_check,
    calculator_verifier,
    evaluate_arithmetic,
    find_expression,
)
from ttc_plugins.bench.items import ARITHMETIC_CONFIG, BenchItem, JsonlItemError, arithmetic_items, load_jsonl_items
from ttc_plugins.bench.methods import (
    FAMILIES,
    BenchMethod,
    BenchModels,
    MethodOutcome,
    MethodSpec,
    build_methods,
    parse_method_names,
)
from ttc_plugins.bench.parallelism import ParallelismMeasurement, measure_parallelism
from ttc_plugins.bench.plot import plot_accuracy_vs_tokens
from ttc_plugins.bench.records import ItemResult, JsonlResultWriter, read_results
from ttc_plugins.bench.runner import DEFAULT_ITEM_BUDGET, run_benchmark, run_one
from ttc_plugins.bench.stats import wilson_interval
from ttc_plugins.bench.summary import MethodSummary, format_table, summarise

__all__ = [
    "ARITHMETIC_CONFIG",
    "DEFAULT_ITEM_BUDGET",
    "FAMILIES",
    "BenchItem",
    "BenchMethod",
    "BenchModels",
    "ItemResult",
    "JsonlItemError",
    "JsonlResultWriter",
    "MethodOutcome",
    "MethodSpec",
    "MethodSummary",
    "NotArithmetic",
    "ParallelismMeasurement",
    "arithmetic_items",
    "build_methods",
    "calculator_check",
    "calculator_verifier",
    "evaluate_arithmetic",
    "find_expression",
    "format_table",
    "load_jsonl_items",
    "measure_parallelism",
    "parse_method_names",
    "plot_accuracy_vs_tokens",
    "read_results",
    "run_benchmark",
    "run_one",
    "summarise",
    "wilson_interval",
]
