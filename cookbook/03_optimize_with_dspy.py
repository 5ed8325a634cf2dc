"""Recipe 3: optimise the prompts inside a DSPy self-consistency program with BootstrapFewShot.

Run:  python cookbook/03_optimize_with_dspy.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server;
TTC_COOKBOOK_ITEMS=3 shrinks the train and dev sets for a quick run)

What it shows: `SelfConsistency("question -> answer", n=3)` is an ordinary `dspy.Module` whose sampler
(`program.generate`) optimizers find and tune. Before/after on the same dev set: accuracy, how many
questions failed outright (every sample's reply broke DSPy's output format), and the tokens spent.
On the 135M model the honest story is that the demos BootstrapFewShot attaches teach the *format*
(parse failures fall) far more than the arithmetic. MIPROv2 and GEPA compile the same way
(`dspy.MIPROv2(metric=..., auto="light").compile(program, trainset=...)`); they make many more calls,
so they are not run here on a 2-core machine. The compiled program saves and loads like any module.
"""

import os
import tempfile
from pathlib import Path

import dspy

from ttc_plugins import Budget, budget_scope
from ttc_plugins.answers import same_answer
from ttc_plugins.dspy import SelfConsistency
from ttc_plugins.local import local_dspy_lm, model_endpoint

ITEMS = int(os.environ.get("TTC_COOKBOOK_ITEMS", "6"))
TRAIN = [(2, 3), (4, 1), (6, 2), (3, 3), (5, 4), (1, 7)][:ITEMS]
DEV = [(6, 3), (4, 4), (2, 5), (7, 1), (3, 5), (8, 1)][:ITEMS]


def examples(pairs):
    return [dspy.Example(question=f"What is {a} + {b}?", answer=str(a + b)).with_inputs("question") for a, b in pairs]


def is_right(example, prediction, trace=None) -> bool:
    return same_answer(str(prediction.answer), example.answer)


def evaluate(title: str, program: dspy.Module, devset: list[dspy.Example]) -> None:
    right = failed = 0
    budget = Budget(name=title)
    with budget_scope(budget):
        for example in devset:
            try:
                right += is_right(example, program(question=example.question))
            except Exception:  # every sample failed (DSPy could not parse the replies): counted as wrong
                failed += 1
    print(f"{title:7} right {right}/{len(devset)}, failed outright {failed}/{len(devset)}, "
          f"{budget.spent.calls} calls, {budget.spent.total_tokens:,} tokens")  # fmt: skip


def main() -> None:
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    with model_endpoint() as (base_url, model):
        dspy.configure(lm=local_dspy_lm(base_url, model=model, max_tokens=96, cache=False))
        trainset, devset = examples(TRAIN), examples(DEV)

        evaluate("before", SelfConsistency("question -> answer", n=3, num_threads=2), devset)

        optimizer = dspy.BootstrapFewShot(metric=is_right, max_bootstrapped_demos=2, max_labeled_demos=4)
        compile_budget = Budget(name="compile")
        with budget_scope(compile_budget):
            compiled = optimizer.compile(SelfConsistency("question -> answer", n=3, num_threads=2), trainset=trainset)
        demos = compiled.generate.predict.demos
        print(f"compile: {len(demos)} demos on generate.predict, {compile_budget.spent.total_tokens:,} tokens")

        evaluate("after", compiled, devset)

        path = Path(tempfile.mkdtemp()) / "self_consistency.json"
        compiled.save(str(path))
        reloaded = SelfConsistency("question -> answer", n=3, num_threads=2)
        reloaded.load(str(path))
        print(f"saved and reloaded: {len(reloaded.generate.predict.demos)} demos")


if __name__ == "__main__":
    main()
