"""``ttc bench``: its options, and the run from items to table, JSONL rows and plot.

The options live here rather than in ``ttc_plugins.cli`` so the benchmark is one package; the CLI only
adds the sub-command. Importing this module imports neither LangChain nor DSPy.

Example:
    >>> import argparse
    >>> commands = argparse.ArgumentParser(prog="ttc").add_subparsers(dest="command")
    >>> args = add_bench_parser(commands).parse_args(["--items", "5", "--methods", "greedy,sc@8"])
    >>> args.items, args.methods, args.item_budget, args.out
    (5, 'greedy,sc@8', 6000, 'bench_results')
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from ttc_plugins.bench.estimate import estimate_calls, estimate_line, seconds_per_call
from ttc_plugins.bench.items import ARITHMETIC_CONFIG, BenchItem, JsonlItemError, arithmetic_items, load_jsonl_items
from ttc_plugins.bench.methods import (
    ARITHMETIC_DEFAULT_METHODS,
    FAMILIES,
    GENERIC_DEFAULT_METHODS,
    BenchMethod,
    BenchModels,
    MethodSpec,
    build_methods,
    parse_method_names,
)
from ttc_plugins.bench.records import ItemResult, JsonlResultWriter
from ttc_plugins.bench.runner import DEFAULT_ITEM_BUDGET, run_benchmark
from ttc_plugins.chat_templates import CHATML, LLAMA3

__all__ = ["add_bench_parser", "run_bench_command"]

_CHAT_TEMPLATES = {"none": None, "chatml": CHATML, "llama3": LLAMA3}
CHECKER = "numeric same_answer on the extracted final answer (not reasoning-gym's exact-string score_answer)"

_DESCRIPTION = """\
Run test-time-compute methods side by side on the same model, items and prompt, each item under its
own token budget, and print: accuracy with a 95% Wilson interval, mean tokens and calls per item
(all roles, input + output, as the budget counted them), the failure rate (items where a method
raised or gave no answer, counted as wrong), and, when greedy is in the run, each method against
greedy on the same items ("vs greedy": the accuracy difference and McNemar's exact p-value).

Every method sends the same prompt, the question followed by
  "{answer_format}"
with the same --max-tokens; sampling uses --temperature. Methods (--methods, comma-separated; k is
the sample count):
{methods}
  * oracle-like: a calculator that evaluates the question's arithmetic (parsed with ast, never
    eval'd) picks the sample, so it knows the right answer; it is shown for reference, not as a peer.

Items: --task basic_arithmetic generates reasoning-gym's one-digit + and - sums offline with
  {config};
--jsonl PATH reads your own {{"question": ..., "answer": ...}} lines. Answers are checked by
  {checker}.

Model: --base-url/--model (or $TTC_BASE_URL/$TTC_MODEL) for any OpenAI-compatible server, else the
embedded SmolLM2-135M is started on a loopback port. An estimate of the run time is printed first;
on the embedded model the default (60 items, all methods) takes an hour or more on 2 cores; shrink
it with --items and --methods.

Writes to --out: results.jsonl (one row per item and method, written as it runs), summary.txt (the
table), accuracy_vs_tokens.png (error bars: the 95% intervals) and run.json (the settings).
--replay-votes adds rows replayed from each sc@k row's own samples (replayed.jsonl): the vote over
its first 1, 2, 4, ... samples, and where each adaptive stopping rule would have stopped, all paired
on the same samples at no extra model calls.
--check-parallelism instead times self-consistency against a fake model (no model is started)."""

_EPILOG = """\
examples:
  ttc bench --items 30 --methods greedy,sc@8,adaptive-sc@16,bon-check@4
  ttc bench --items 60 --methods greedy,sc@16 --replay-votes
  ttc bench --jsonl my_questions.jsonl --methods greedy,sc@8 --base-url http://localhost:11434/v1 --model llama3.2
  ttc bench --check-parallelism"""


def _method_lines() -> str:
    lines = []
    for family, info in FAMILIES.items():
        name = family + ("@k" if info.takes_k else "")
        lines.append(f"  {name:<16} {info.description}{' *' if info.oracle_like else ''}")
    return "\n".join(lines)


def add_bench_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command, with all its options, to an argparse sub-parsers object."""
    from ttc_plugins.prompts import ANSWER_FORMAT

    settings = [f"{key}={value!r}" for key, value in ARITHMETIC_CONFIG.items()]
    config = ",\n  ".join(", ".join(settings[i : i + 4]) for i in range(0, len(settings), 4))
    parser = commands.add_parser(
        "bench",
        help="compare test-time-compute methods on the same model and items, with 95%% intervals",
        description=_DESCRIPTION.format(
            answer_format=ANSWER_FORMAT, methods=_method_lines(), config=config, checker=CHECKER
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--task", choices=["basic_arithmetic"], default="basic_arithmetic", help="generated items")
    data.add_argument("--jsonl", metavar="PATH", help='your own items, one {"question": ..., "answer": ...} a line')
    parser.add_argument("--items", type=int, default=None, help="how many items (default: 60 generated, or every line)")
    parser.add_argument("--seed", type=int, default=2024, help="reasoning-gym's seed for --task (default: 2024)")
    parser.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated methods (default: {ARITHMETIC_DEFAULT_METHODS}; "
        f"with --jsonl: {GENERIC_DEFAULT_METHODS})",
    )
    parser.add_argument(
        "--item-budget",
        type=int,
        default=DEFAULT_ITEM_BUDGET,
        metavar="TOKENS",
        help=f"token cap for one method on one item, all calls (default: {DEFAULT_ITEM_BUDGET})",
    )
    parser.add_argument("--max-tokens", type=int, default=128, help="output cap of every call (default: 128)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default: 0.7)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="samples in flight at once, max_concurrency (default: 2)"
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: $TTC_BASE_URL, else embedded)")
    parser.add_argument("--model", help="the model name at that endpoint (default: $TTC_MODEL, else smollm2-135m)")
    parser.add_argument(
        "--chat-template",
        choices=sorted(_CHAT_TEMPLATES),
        default="none",
        help="the --base-url model's chat template, so forcing@k continues its words through /v1/completions "
        "(default: none, re-prompt the chat model; the embedded model's own is always used for it)",
    )
    parser.add_argument("--out", default="bench_results", metavar="DIR", help="output folder (default: bench_results)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--replay-votes",
        action="store_true",
        help="also replay each sc@k row's vote on its own samples: the first 1, 2, 4, ... of them, and where the "
        "adaptive rules (unbeatable; Beta at 0.95, 0.9, 0.8) would have stopped (rows named sc@k:...)",
    )
    parser.add_argument(
        "--check-parallelism",
        action="store_true",
        help="only time self_consistency(n=16) against a fake 0.2 s model at max_concurrency 1 and 16",
    )
    return parser


def _load_items(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> tuple[list[BenchItem], str]:
    if args.items is not None and args.items < 1:
        error("--items must be at least 1")
    if args.jsonl:
        try:
            return load_jsonl_items(args.jsonl, limit=args.items), Path(args.jsonl).name
        except (JsonlItemError, OSError) as problem:
            error(str(problem))
    return arithmetic_items(args.items or 60, seed=args.seed), args.task


def _check_numbers(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
    for flag, value in (("--item-budget", args.item_budget), ("--max-tokens", args.max_tokens)):
        if value < 1:
            error(f"{flag} must be at least 1")
    if args.concurrency < 1:
        error("--concurrency must be at least 1")
    if not 0 < args.temperature <= 2:
        error("--temperature must be in (0, 2] (greedy already runs at 0)")


def _specs(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> list[MethodSpec]:
    default = GENERIC_DEFAULT_METHODS if args.jsonl else ARITHMETIC_DEFAULT_METHODS
    try:
        specs = parse_method_names(args.methods or default)
    except ValueError as problem:
        error(str(problem))
    if args.jsonl and any(spec.info.needs_arithmetic for spec in specs):
        print("note: the calculator checks arithmetic questions only; on others every sample scores 0", flush=True)
    return specs


def _models(
    url: str, model: str, args: argparse.Namespace, specs: Sequence[MethodSpec], *, embedded: bool
) -> BenchModels:
    from ttc_plugins.local import (
        LOCAL_CHAT_TEMPLATE,
        local_chat_model,
        local_completion_model,
        local_dspy_lm,
        local_judge_model,
    )

    greedy = local_chat_model(url, model=model, temperature=0.0, max_tokens=args.max_tokens)
    # On the embedded model (llama.cpp's server) the judge's JSON is enforced by a grammar, so its
    # replies always parse; other servers get the plain model and the tolerant text parse.
    judge = local_judge_model(url, model=model) if embedded else greedy
    sampler = local_chat_model(url, model=model, temperature=args.temperature, max_tokens=args.max_tokens)
    dspy_lm = None
    if any(spec.family.startswith("dspy-") for spec in specs):
        # cache=False: DSPy would otherwise answer a repeated request from its cache, free and identical.
        dspy_lm = local_dspy_lm(url, model=model, temperature=args.temperature, max_tokens=args.max_tokens, cache=False)
    completions, template = None, None
    if any(spec.family == "forcing" for spec in specs):
        # Budget forcing continues the model's own words only where its chat template is known.
        template = LOCAL_CHAT_TEMPLATE if embedded else _CHAT_TEMPLATES[args.chat_template]
        if template is not None:
            completions = local_completion_model(url, model=model, temperature=0.0, max_tokens=args.max_tokens)
    return BenchModels(
        greedy=greedy,
        sampler=sampler,
        judge=judge,
        dspy_lm=dspy_lm,
        completions=completions,
        chat_template=template,
        concurrency=args.concurrency,
    )


@contextlib.contextmanager
def _quiet_dependency_logs() -> Iterator[None]:
    # DSPy logs a warning for every reply cut at max_tokens, which a small model's replies often are:
    # hundreds of lines through the progress bar. The rows record what happened.
    loggers = [logging.getLogger(name) for name in ("dspy", "LiteLLM", "httpx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run_rows(
    items: Sequence[BenchItem], methods: Sequence[BenchMethod], args: argparse.Namespace, out: Path
) -> tuple[list[ItemResult], bool]:
    """Run the benchmark, writing rows as they come; returns them and whether Ctrl-C cut the run short."""
    rows: list[ItemResult] = []
    try:
        with JsonlResultWriter(out / "results.jsonl") as write:

            def keep(row: ItemResult) -> None:
                rows.append(row)
                write(row)

            run_benchmark(items, methods, item_budget=args.item_budget, on_result=keep, progress=not args.no_progress)
    except KeyboardInterrupt:
        return rows, True  # summarise what finished: every row is on disk already
    return rows, False


def _settings(args: argparse.Namespace, specs: Sequence[MethodSpec], source: str, items: int) -> dict[str, Any]:
    return {
        "source": source,
        "items": items,
        "seed": None if args.jsonl else args.seed,
        "task_config": None if args.jsonl else ARITHMETIC_CONFIG,
        "methods": [spec.name for spec in specs],
        "item_budget": args.item_budget,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "concurrency": args.concurrency,
        "chat_template": args.chat_template,
        "checker": CHECKER,
    }


def _write_outputs(
    rows: list[ItemResult], out: Path, specs: Sequence[MethodSpec], settings: dict[str, Any], title: str
) -> str:
    from ttc_plugins.bench.plot import plot_accuracy_vs_tokens
    from ttc_plugins.bench.summary import format_table, summarise

    oracle_like = [spec.name for spec in specs if spec.info.oracle_like]
    summaries = summarise(rows)
    table = format_table(summaries, oracle_like=oracle_like)
    (out / "summary.txt").write_text(f"{title}\n{CHECKER}\n\n{table}\n", encoding="utf-8")
    (out / "run.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    if summaries:
        plot_accuracy_vs_tokens(summaries, out / "accuracy_vs_tokens.png", title=title, oracle_like=oracle_like)
    return table


def run_bench_command(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> int:
    """Run ``ttc bench`` with parsed ``args``; ``error`` reports a usage error (argparse's ``parser.error``)."""
    if args.check_parallelism:
        from ttc_plugins.bench.parallelism import measure_parallelism

        print(measure_parallelism().report())
        return 0
    _check_numbers(args, error)
    items, source = _load_items(args, error)
    specs = _specs(args, error)
    if args.replay_votes and not any(spec.family == "sc" for spec in specs):
        error("--replay-votes replays sc@k rows: add one, e.g. --methods greedy,sc@16")
    from ttc_plugins.local import endpoint_from_env, model_endpoint

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(args, specs, source, len(items))
    settings["started"] = datetime.now(UTC).isoformat(timespec="seconds")
    embedded = endpoint_from_env(args.base_url, args.model)[0] is None
    with model_endpoint(args.base_url, args.model) as (url, model):
        models = _models(url, model, args, specs, embedded=embedded)
        methods = build_methods(specs, models)  # imports DSPy if asked for, which resets its log level
        title = f"{model} on {source}, {len(items)} items"
        print(f"{title}; methods: {', '.join(spec.name for spec in specs)}; item budget {args.item_budget:,} tokens")
        with _quiet_dependency_logs():
            per_call = seconds_per_call(build_methods([MethodSpec("greedy")], models)[0], items[0])
            print(estimate_line(estimate_calls(specs, len(items)), per_call), flush=True)
            rows, interrupted = _run_rows(items, methods, args, out)
    settings.update(
        model=model,
        base_url=url,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        interrupted=interrupted,
        rows=len(rows),
    )
    if args.replay_votes:
        from ttc_plugins.bench.replay import replay_votes

        replayed = replay_votes(rows)
        with JsonlResultWriter(out / "replayed.jsonl") as write:
            for row in replayed:
                write(row)
        rows = rows + replayed
    table = _write_outputs(rows, out, specs, settings, title)
    print(f"\n{title}{' (interrupted)' if interrupted else ''}\nchecked by {CHECKER}\n\n{table}\n")
    print(f"raw rows: {out / 'results.jsonl'}; plot: {out / 'accuracy_vs_tokens.png'}; table: {out / 'summary.txt'}")
    return 130 if interrupted else 0
