"""The benchmark's LangChain methods: the library's own strategies wrapped around one answer chain.

Every method runs the same chain, ``prompt | model | StrOutputParser()``, whose prompt is the question
followed by :data:`~ttc_plugins.prompts.ANSWER_FORMAT`; only the model's temperature and the strategy
around the chain differ.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from ttc_plugins.bench.items import BenchItem
    >>> from ttc_plugins.bench.methods import BenchModels, MethodSpec
    >>> model = FakeListChatModel(responses=["9 + 4 = 13. Answer: 13"])
    >>> greedy = build(MethodSpec("greedy"), BenchModels(greedy=model, sampler=model))
    >>> greedy.solve(BenchItem(index=0, question="Calculate 9 + 4.", answer="13")).answer
    '13'
"""

from __future__ import annotations

from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from ttc_plugins.answers import extract_answer
from ttc_plugins.bench.calculator import calculator_verifier
from ttc_plugins.bench.items import BenchItem
from ttc_plugins.bench.methods import BenchMethod, BenchModels, MethodOutcome, MethodSpec
from ttc_plugins.langchain import (
    best_of_n,
    budget_forcing,
    chain_of_draft,
    chain_of_thought,
    llm_judge,
    refine,
    self_consistency,
    step_back,
    tpo,
)
from ttc_plugins.prompts import ANSWER_FORMAT
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.candidates import output_text
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["answer_chain", "build"]


def answer_chain(model: Any) -> Runnable[dict[str, str], str]:
    """The chain every method answers with: ``{"question": ...}`` in, the model's text out."""
    prompt = ChatPromptTemplate.from_messages([("user", "{question} " + ANSWER_FORMAT)])
    return prompt | model | StrOutputParser()


def _outcome(result: TTCResult) -> MethodOutcome:
    return MethodOutcome(
        answer=result.answer,
        output=output_text(result.output) if result.output is not None else None,
        stop_reason=result.stop_reason,
        samples=len(result.candidates),
        failed_samples=len(result.failures),
        sample_answers=tuple(c.answer if c.ok else None for c in result.candidates),
        # Samples drawn n-at-a-time share one usage figure and have none each: then none is recorded.
        sample_tokens=tuple((c.input_tokens, c.output_tokens) for c in result.candidates)
        if any(c.input_tokens or c.output_tokens for c in result.candidates)
        else (),
    )


def _strategy_method(spec: MethodSpec, strategy: Runnable[Any, Any], concurrency: int) -> BenchMethod:
    with_result = strategy.with_result()
    config = {"max_concurrency": concurrency}

    def solve(item: BenchItem) -> MethodOutcome:
        return _outcome(with_result.invoke({"question": item.question}, config))

    return BenchMethod(spec=spec, solve=solve)


def _greedy(spec: MethodSpec, chain: Runnable[dict[str, str], str]) -> BenchMethod:
    def solve(item: BenchItem) -> MethodOutcome:
        output = chain.invoke({"question": item.question})
        return MethodOutcome(answer=extract_answer(output), output=output, stop_reason="done")

    return BenchMethod(spec=spec, solve=solve)


def _single(spec: MethodSpec, transform: Runnable[Any, Any]) -> BenchMethod:
    """One run of a prompting transform (its own prompt: chain-of-draft, step-back, budget forcing, ...)."""

    def solve(item: BenchItem) -> MethodOutcome:
        output = output_text(transform.invoke({"question": item.question}))
        return MethodOutcome(answer=extract_answer(output), output=output, stop_reason="done")

    return BenchMethod(spec=spec, solve=solve)


_PROMPTING = {
    "cot-few": lambda llm, k: chain_of_thought(llm, few_shot=True),
    "cod": lambda llm, k: chain_of_draft(llm),
    "cod-zero": lambda llm, k: chain_of_draft(llm, few_shot=False),
    "step-back": lambda llm, k: step_back(llm),
}


def _forcing(spec: MethodSpec, models: BenchModels) -> BenchMethod:
    if models.completions is not None and models.chat_template is not None:
        llm, template = models.completions, models.chat_template
    else:
        llm, template = models.greedy, None
    return _single(spec, budget_forcing(llm, max_thinking_tokens=spec.k, max_answer_tokens=32, chat_template=template))


def build(spec: MethodSpec, models: BenchModels) -> BenchMethod:
    """Build one of the LangChain-side methods (greedy, sc, adaptive-sc, bon-judge, bon-check, refine-*, tpo-judge)."""
    if spec.family == "greedy":
        return _greedy(spec, answer_chain(models.greedy))
    if spec.family == "forcing":
        return _forcing(spec, models)
    if spec.family in _PROMPTING:
        return _single(spec, _PROMPTING[spec.family](models.greedy, spec.k))
    if spec.family == "sc-cod":
        return _strategy_method(spec, self_consistency(chain_of_draft(models.sampler), n=spec.k), models.concurrency)
    sampler = answer_chain(models.sampler)
    if spec.family in ("sc", "adaptive-sc"):
        strategy = self_consistency(sampler, n=spec.k, adaptive=spec.family == "adaptive-sc")
    elif spec.family == "adaptive-beta-sc":
        rule = AdaptiveStop(rule="beta", confidence=0.95, min_samples=4)
        strategy = self_consistency(sampler, n=spec.k, adaptive=rule, wave_size=2)
    elif spec.family == "bon-judge":
        # Text replies only: structured output through a 135M model's JSON mode is not what users of
        # small local models get to rely on, and the tolerant text parse is the judge's fallback anyway.
        judge = llm_judge(models.judge or models.greedy, structured=False)
        strategy = best_of_n(sampler, verifier=judge, n=spec.k)
    elif spec.family == "bon-check":
        # threshold=1.0: stop at the first sample the calculator verifies, as dspy.BestOfN does.
        strategy = best_of_n(sampler, verifier=calculator_verifier, n=spec.k, threshold=1.0)
    elif spec.family == "refine-judge":
        judge = llm_judge(models.judge or models.greedy, structured=False)
        strategy = refine(sampler, scorer=judge, max_rounds=spec.k, patience=2)
    elif spec.family == "refine-check":
        # A pass/fail score: accept="higher" keeps an edit only if it fixes the answer.
        strategy = refine(
            sampler, scorer=calculator_verifier, max_rounds=spec.k, patience=2, accept="higher", threshold=1.0
        )
    elif spec.family == "tpo-judge":
        judge = llm_judge(models.judge or models.greedy, structured=False)
        strategy = tpo(sampler, scorer=judge, samples=spec.k, rounds=2)
    else:
        raise ValueError(f"{spec.name} is not a LangChain method")
    return _strategy_method(spec, strategy, models.concurrency)
