"""DSPy's own test-time-compute modules as baselines, run on the same endpoint, items and budget.

- ``dspy-majority@k``: ``dspy.majority`` over k ``dspy.Predict("question -> answer")`` calls, each with
  its own ``rollout_id``. (``Predict(..., n=k)`` is not used: llama.cpp's server ignores ``n`` and
  returns one completion, so "majority of 8" would silently be a majority of 1.)
- ``dspy-bestofn@k``: ``dspy.BestOfN(Predict, N=k, reward_fn=calculator check, threshold=1.0)``. DSPy
  samples its attempts one after another at temperature 1.0 (its own choice, not ours).

The question is the same text the LangChain methods send (question + ANSWER_FORMAT), inside DSPy's
default ChatAdapter format. A reply the adapter cannot parse, even after its JSONAdapter retry, is a
failed sample; an item where every sample failed is a failed item. DSPy's calls go through the LM
configured for the item (``BenchMethod.context``), which the budget scope wraps and charges.

Example:
    >>> from dspy.utils.dummies import DummyLM
    >>> from ttc_plugins import Budget, budget_scope
    >>> from ttc_plugins.bench.items import BenchItem
    >>> from ttc_plugins.bench.methods import BenchModels, MethodSpec
    >>> lm = DummyLM([{"answer": "Answer: 13"}] * 3)
    >>> vote = build(MethodSpec("dspy-majority", 3), BenchModels(greedy=None, sampler=None, dspy_lm=lm))
    >>> budget = Budget()
    >>> with vote.context(), budget_scope(budget):
    ...     outcome = vote.solve(BenchItem(index=0, question="Calculate 9 + 4.", answer="13"))
    >>> outcome.answer, outcome.samples, budget.spent.calls
    ('13', 3, 3)
"""

from __future__ import annotations

import contextlib
import contextvars
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dspy

import ttc_plugins.dspy  # noqa: F401  (registers the budget hook, so budget_scope charges DSPy's LM)
from ttc_plugins.answers import extract_answer
from ttc_plugins.bench.calculator import NotArithmetic, calculator_check
from ttc_plugins.bench.items import BenchItem
from ttc_plugins.bench.methods import BenchMethod, BenchModels, MethodOutcome, MethodSpec
from ttc_plugins.prompts import ANSWER_FORMAT

__all__ = ["DSPySamplesFailed", "build"]

_SIGNATURE = "question -> answer"
_BEST_OF_N_FAILURE = "BestOfN: Attempt"  # the line dspy.BestOfN prints for each attempt that raised


class DSPySamplesFailed(RuntimeError):
    """Every DSPy sample for an item raised (usually adapter parse errors); the message has the first."""


def _question(item: BenchItem) -> str:
    return f"{item.question} {ANSWER_FORMAT}"


def _answer_text(prediction: Any) -> str | None:
    answer = getattr(prediction, "answer", None) if prediction is not None else None
    return None if answer is None else str(answer)


def _draw_all(predict: dspy.Predict, question: str, k: int, temperature: float, threads: int) -> list[Any]:
    """k predictions (or the exceptions raised instead), ``threads`` at a time."""

    def draw(rollout: int) -> Any:
        try:
            return predict(question=question, config={"rollout_id": rollout, "temperature": temperature})
        except Exception as error:  # a failed sample is data for the report, not the end of the item
            return error

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        # One copy of the context per sample: it carries the budget scope and DSPy's settings.
        futures = [pool.submit(contextvars.copy_context().run, draw, rollout) for rollout in range(k)]
        return [future.result() for future in futures]


def _majority(spec: MethodSpec, models: BenchModels) -> BenchMethod:
    predict = dspy.Predict(_SIGNATURE)

    def solve(item: BenchItem) -> MethodOutcome:
        outcomes = _draw_all(predict, _question(item), spec.k, models.temperature, models.concurrency)
        predictions = [o for o in outcomes if not isinstance(o, BaseException)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if not predictions:
            first = failures[0]
            raise DSPySamplesFailed(f"all {spec.k} samples failed; the first: {type(first).__name__}: {first}")
        text = _answer_text(dspy.majority(predictions, field="answer"))
        return MethodOutcome(
            answer=extract_answer(text) if text else None,
            output=text,
            stop_reason="done",
            samples=spec.k,
            failed_samples=len(failures),
        )

    return BenchMethod(spec=spec, solve=solve, context=lambda: dspy.context(lm=models.dspy_lm))


def _calculator_reward(item: BenchItem) -> Any:
    def reward(args: dict[str, Any], prediction: Any) -> float:
        text = _answer_text(prediction)
        try:
            return float(calculator_check(item.question, extract_answer(text) if text else None))
        except NotArithmetic:
            return 0.0  # not an arithmetic question: nothing can be verified

    return reward


@contextlib.contextmanager
def _captured_stdout() -> Iterator[io.StringIO]:
    # dspy.BestOfN reports each failed attempt with print(); keep it out of the table, and count it.
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        yield captured


def _best_of_n(spec: MethodSpec, models: BenchModels) -> BenchMethod:
    predict = dspy.Predict(_SIGNATURE)

    def solve(item: BenchItem) -> MethodOutcome:
        rewards: list[float] = []
        score = _calculator_reward(item)

        def counted_reward(args: dict[str, Any], prediction: Any) -> float:
            rewards.append(score(args, prediction))
            return rewards[-1]

        best = dspy.BestOfN(module=predict, N=spec.k, reward_fn=counted_reward, threshold=1.0)
        with _captured_stdout() as printed:
            prediction = best(question=_question(item))
        failed = printed.getvalue().count(_BEST_OF_N_FAILURE)
        text = _answer_text(prediction)
        return MethodOutcome(
            answer=extract_answer(text) if text else None,
            output=text,
            stop_reason="threshold" if rewards and rewards[-1] >= 1.0 else "done",
            samples=len(rewards) + failed,
            failed_samples=failed,
        )

    return BenchMethod(spec=spec, solve=solve, context=lambda: dspy.context(lm=models.dspy_lm))


def build(spec: MethodSpec, models: BenchModels) -> BenchMethod:
    """Build ``dspy-majority@k`` or ``dspy-bestofn@k`` for ``models.dspy_lm``."""
    if spec.family == "dspy-majority":
        return _majority(spec, models)
    if spec.family == "dspy-bestofn":
        return _best_of_n(spec, models)
    raise ValueError(f"{spec.name} is not a DSPy method")
