"""The Runnable shape every LangChain sampling strategy shares (self-consistency, best-of-N).

A run asks its :class:`SamplingPlan` for the next wave, samples that many outputs in parallel, turns
them into candidates, lets the strategy work on the new candidates (best-of-N verifies them), and
repeats until the plan stops; then the strategy selects. All model calls run under a child budget
of the caller's, whose spend becomes the result's.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict, PrivateAttr

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import strategy_run_scope
from ttc_plugins.langchain._sampling import ProviderN, asample, sample
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates
from ttc_plugins.strategies.sampling_plan import SamplingPlan

__all__ = ["SamplingStrategy"]


class SamplingStrategy(RunnableSerializable[Any, Any]):
    """Samples ``runnable`` in waves and selects; subclasses say how to plan, process and select."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runnable: Runnable[Any, Any]
    n: int = 8
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    wave_size: int | None = None
    use_provider_n: bool = True
    return_result: bool = False
    _provider_n: ProviderN = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._plan()  # validates the options now, not at the first invoke
        self._provider_n = ProviderN(self.use_provider_n)

    def with_result(self) -> SamplingStrategy:
        """The same strategy, returning the full TTCResult (candidates, votes, scores, spend, stop reason)."""
        return self.model_copy(update={"return_result": True})

    @property
    def InputType(self) -> Any:  # noqa: N802  (LangChain's name)
        return self.runnable.InputType

    # ---- what subclasses define

    def _plan(self) -> SamplingPlan:
        raise TypeError(f"{type(self).__name__} must define _plan()")

    def _process(self, input: Any, fresh: list[Candidate], config: RunnableConfig) -> list[Candidate]:
        return fresh

    async def _aprocess(self, input: Any, fresh: list[Candidate], config: RunnableConfig) -> list[Candidate]:
        return fresh

    def _select(self, candidates: list[Candidate], plan: SamplingPlan) -> TTCResult:
        raise TypeError(f"{type(self).__name__} must define _select()")

    # ---- the run

    def _finish(self, candidates: list[Candidate], plan: SamplingPlan, spend: Any) -> Any:
        result = self._select(candidates, plan)
        result.spend = spend
        return result if self.return_result else result.output

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        plan, candidates = self._plan(), []
        plan.check_fits()  # against the caller's budget, before any call
        with strategy_run_scope(self.get_name()) as run_budget:
            while wave := plan.next_wave(candidates):
                outputs = sample(self.runnable, input, wave, child, self._provider_n)
                fresh = make_candidates(outputs, start=len(candidates), extract=self.extract)
                candidates += self._process(input, fresh, child)
        return self._finish(candidates, plan, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        plan, candidates = self._plan(), []
        plan.check_fits()
        with strategy_run_scope(self.get_name()) as run_budget:
            while wave := plan.next_wave(candidates):
                outputs = await asample(self.runnable, input, wave, child, self._provider_n)
                fresh = make_candidates(outputs, start=len(candidates), extract=self.extract)
                candidates += await self._aprocess(input, fresh, child)
        return self._finish(candidates, plan, run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)
