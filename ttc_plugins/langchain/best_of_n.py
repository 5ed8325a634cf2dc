"""Best-of-N for any LangChain Runnable: sample, verify each candidate, keep the best.

Three ways to select, from the literature's generate → verify → select family:

- best-of-N: the single highest-scored candidate;
- ``threshold``: sample in waves and stop at the first candidate scored at least this high;
- ``weighted=True``: weighted best-of-N, the answer whose candidates' scores sum highest (a confident
  minority can overturn a raw majority, and a sure majority beats one lucky high score).

Example:
    >>> import itertools
    >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> from ttc_plugins.verifiers import programmatic
    >>> model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("Answer: 8"), AIMessage("Answer: 7")]))
    >>> checker = programmatic(lambda question, answer: answer == "7")
    >>> best_of_n(model, verifier=checker, n=2).invoke("What is 3 + 4?", {"max_concurrency": 1}).content
    'Answer: 7'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import Binding
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, question_text
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.sampling import best_of_n_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan

__all__ = ["BestOfN", "best_of_n"]


class BestOfN(SteppedStrategy):
    """A Runnable that samples, verifies and returns the best candidate's output (build with :func:`best_of_n`).

    Its waves, scoring and selection are :func:`ttc_plugins.strategies.sampling.best_of_n_loop`'s.
    """

    runnable: Runnable[Any, Any]
    verifier: Runnable[dict[str, Any], Any]
    n: int = 8
    threshold: float | None = None
    weighted: bool = False
    wave_size: int | None = None
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    question: QuestionFormatter = question_text
    name: str | None = Field(default="best_of_n")

    def _bindings(self) -> Mapping[str, Binding]:
        return {"generate": Binding(self.runnable, sampled=True), "score": Binding(self.verifier)}

    def _loop(self, input: Any) -> StrategyLoop:
        return (
            yield from best_of_n_loop(
                input, question=self.question(input), n=self.n, threshold=self.threshold, weighted=self.weighted,
                wave_size=self.wave_size, same=self.same, extract=self.extract,
            )
        )  # fmt: skip


def best_of_n(
    runnable: Runnable[Any, Any],
    *,
    verifier: Any,
    n: int = 8,
    threshold: float | None = None,
    weighted: bool = False,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    question: QuestionFormatter = question_text,
    wave_size: int | None = None,
    use_provider_n: bool = True,
    return_result: bool = False,
) -> BestOfN:
    """Wrap a chain or model so it answers with the best of ``n`` verified samples.

    Args:
        runnable: any Runnable (it needs temperature > 0 to give different samples).
        verifier: ``llm_judge(model)``, ``programmatic(check)``, any ``(question, candidate) -> Verdict |
            float | bool`` function (sync or async), or a Runnable over ``{"question", "candidate"}``.
            Its calls are charged to the budget as role "verifier".
        n: the most samples to draw.
        threshold: stop at the first candidate scored at least this (in [0, 1]); samples in waves.
        weighted: select the answer with the highest summed score instead of the single best sample.
        extract: ``output -> answer`` (for ``weighted`` and for the result's ``answer``).
        same: answer equivalence for ``weighted``.
        question: ``input -> question text`` shown to the verifier (default: the input's text, its
            ``question`` field, or its last message).
        wave_size: samples per wave when ``threshold`` is set (default 2).
        use_provider_n: ask a chat model that takes ``n=`` for all samples at once (checked).
        return_result: return the full :class:`~ttc_plugins.TTCResult` rather than the best output.

    Raises:
        ValueError: bad ``n``, ``wave_size`` or ``threshold``.
        AllCandidatesFailed: no sample could be generated and verified (with the first failure).
        BudgetExceeded: the budget could not pay for even one sample.
    """
    SamplingPlan(n, wave_size=wave_size, threshold=threshold)  # clear errors for bad options, before pydantic's
    return BestOfN(
        runnable=runnable,
        verifier=as_verifier_runnable(verifier),
        n=n,
        threshold=threshold,
        weighted=weighted,
        extract=extract,
        same=same,
        question=question,
        wave_size=wave_size,
        use_provider_n=use_provider_n,
        return_result=return_result,
    )
