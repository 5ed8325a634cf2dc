"""Self-consistency for any LangChain Runnable: sample n answers in parallel, return the majority.

Example:
    >>> import itertools
    >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> replies = itertools.cycle([AIMessage("Answer: 7"), AIMessage("Answer: 8"), AIMessage("so, 7")])
    >>> model = GenericFakeChatModel(messages=replies)
    >>> solver = self_consistency(model, n=3)
    >>> result = solver.with_result().invoke("What is 3 + 4?", {"max_concurrency": 1})
    >>> result.answer, [c.votes for c in result.candidates], result.stop_reason
    ('7', [2, 1, 2], 'done')
    >>> solver.invoke("What is 3 + 4?", {"max_concurrency": 1}).content  # the wrapped model's output type
    'Answer: 7'
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict, Field, PrivateAttr

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import strategy_run_scope
from ttc_plugins.langchain._sampling import ProviderN, asample, sample
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SelfConsistency", "self_consistency"]


class SelfConsistency(RunnableSerializable[Any, Any]):
    """A Runnable that samples the wrapped one up to ``n`` times and returns the majority answer's output.

    Build it with :func:`self_consistency`. ``invoke``/``ainvoke``/``batch``/``stream`` return what the
    wrapped Runnable returns (the winning sample); ``with_result()`` returns a copy whose output is the
    full :class:`~ttc_plugins.TTCResult` instead.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runnable: Runnable[Any, Any]
    n: int = 8
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    adaptive: AdaptiveStop | None = None
    wave_size: int | None = None
    use_provider_n: bool = True
    return_result: bool = False
    name: str | None = Field(default="self_consistency")
    _provider_n: ProviderN = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._plan()  # validates n and wave_size now, not at the first invoke
        self._provider_n = ProviderN(self.use_provider_n)

    def with_result(self) -> SelfConsistency:
        """The same strategy, returning the full TTCResult (candidates, votes, spend, stop reason)."""
        return self.model_copy(update={"return_result": True})

    @property
    def InputType(self) -> Any:  # noqa: N802  (LangChain's name)
        return self.runnable.InputType

    def _plan(self) -> SamplingPlan:
        return SamplingPlan(self.n, wave_size=self.wave_size, adaptive=self.adaptive, same=self.same)

    def _finish(self, candidates: list[Candidate], plan: SamplingPlan, spend: Any) -> Any:
        result: TTCResult = voted_result(candidates, stop_reason=plan.stop_reason or "done", same=self.same)
        result.spend = spend
        return result if self.return_result else result.output

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        plan, candidates = self._plan(), []
        with strategy_run_scope(self.name or "self_consistency") as run_budget:
            while wave := plan.next_wave(candidates):
                outputs = sample(self.runnable, input, wave, child, self._provider_n)
                candidates += make_candidates(outputs, start=len(candidates), extract=self.extract)
        return self._finish(candidates, plan, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        plan, candidates = self._plan(), []
        with strategy_run_scope(self.name or "self_consistency") as run_budget:
            while wave := plan.next_wave(candidates):
                outputs = await asample(self.runnable, input, wave, child, self._provider_n)
                candidates += make_candidates(outputs, start=len(candidates), extract=self.extract)
        return self._finish(candidates, plan, run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)


def self_consistency(
    runnable: Runnable[Any, Any],
    *,
    n: int = 8,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    adaptive: bool | AdaptiveStop = False,
    wave_size: int | None = None,
    use_provider_n: bool = True,
    return_result: bool = False,
) -> SelfConsistency:
    """Wrap an existing chain or model so it answers by majority vote over ``n`` samples.

    The wrapped Runnable needs some randomness (temperature > 0, no response cache), or all samples
    agree by construction. Samples run in parallel up to the caller's ``max_concurrency``; callbacks,
    tags and metadata reach every sample. Every call is charged to the current budget; when the
    budget refuses a sample, the run stops and votes over what it has (``stop_reason="budget"``).

    Args:
        runnable: any Runnable: a chat model, ``prompt | model | parser``, a whole chain.
        n: the most samples to draw.
        extract: ``output -> answer``; by default the final answer is extracted from the output's
            text ("Answer: ...", ``\\boxed{}``, "####", then the last number).
        same: answer equivalence for counting votes (numbers, fractions, LaTeX by default).
        adaptive: stop once the vote is settled: ``True`` for the rule that never changes the
            outcome, or an :class:`~ttc_plugins.strategies.select.AdaptiveStop` to choose the rule.
        wave_size: samples per round when ``adaptive`` (default 2).
        use_provider_n: ask a chat model that takes ``n=`` for all samples in one request (checked:
            missing choices are sampled one by one).
        return_result: return the full :class:`~ttc_plugins.TTCResult` rather than the winning output.

    Raises:
        ValueError: ``n`` or ``wave_size`` is not a positive integer.
        AllCandidatesFailed: every sample raised (the message includes the first failure).
        BudgetExceeded: the budget could not pay for even one sample.
    """
    rule = AdaptiveStop() if adaptive is True else (adaptive or None)
    SamplingPlan(n, wave_size=wave_size, adaptive=rule)  # clear errors for bad options, before pydantic's
    return SelfConsistency(
        runnable=runnable,
        n=n,
        extract=extract,
        same=same,
        adaptive=rule,
        wave_size=wave_size,
        use_provider_n=use_provider_n,
        return_result=return_result,
    )
