"""A multi-model ensemble vote: each model (or chain) answers, and the majority answer wins.

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> models = [RunnableLambda(lambda q: "Answer: 4"), RunnableLambda(lambda q: "4.0"), RunnableLambda(lambda q: "5")]
    >>> ensemble(models).invoke("What is 2 + 2?")
    'Answer: 4'
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import get_executor_for_config, patch_config
from pydantic import ConfigDict, Field

from ttc_plugins._runnables import metered
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import strategy_run_scope
from ttc_plugins.results import TTCEvent, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, voted_result
from ttc_plugins.strategies.options import check_sample_count, check_samples_fit

__all__ = ["Ensemble", "ensemble"]


def _attempt(runnable: Runnable[Any, Any], input: Any, config: RunnableConfig) -> Any:
    try:
        return metered(runnable).invoke(input, config)  # its own budget: the candidate gets its tokens
    except Exception as error:  # one model failing leaves the others to vote
        return error


async def _aattempt(runnable: Runnable[Any, Any], input: Any, config: RunnableConfig) -> Any:
    try:
        return await metered(runnable).ainvoke(input, config)
    except Exception as error:
        return error


class Ensemble(RunnableSerializable[Any, Any]):
    """Asks every runnable once (in parallel) and returns the majority answer's output (build with :func:`ensemble`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runnables: list[Runnable[Any, Any]]
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    return_result: bool = False
    name: str | None = Field(default="ensemble")

    def with_result(self) -> Ensemble:
        """The same ensemble, returning the full TTCResult."""
        return self.model_copy(update={"return_result": True})

    def _finish(self, outputs: list[Any], spend: Any) -> Any:
        candidates = make_candidates(outputs, start=0, extract=self.extract)
        members = [
            TTCEvent(kind="member", data={"index": i, "name": r.get_name()}) for i, r in enumerate(self.runnables)
        ]
        result: TTCResult = voted_result(candidates, stop_reason="done", same=self.same, events=members)
        result.spend = spend
        return result if self.return_result else result.output

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        check_samples_fit(len(self.runnables), name="len(runnables)")  # every member is asked once
        with strategy_run_scope(self.get_name()) as run_budget, get_executor_for_config(child) as pool:
            # The executor honours max_concurrency and carries the context (budget, role) into its threads.
            outputs = list(pool.map(lambda r: _attempt(r, input, child), self.runnables))
        return self._finish(outputs, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        check_samples_fit(len(self.runnables), name="len(runnables)")
        limit = asyncio.Semaphore(config.get("max_concurrency") or len(self.runnables))

        async def bounded(runnable: Runnable[Any, Any]) -> Any:
            async with limit:
                return await _aattempt(runnable, input, child)

        with strategy_run_scope(self.get_name()) as run_budget:
            outputs = await asyncio.gather(*(bounded(r) for r in self.runnables))
        return self._finish(list(outputs), run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)


def ensemble(
    runnables: Sequence[Runnable[Any, Any]],
    *,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    return_result: bool = False,
) -> Ensemble:
    """Ask several models (or chains) the same input once each and return the majority answer's output.

    Ties go to the model listed first; a model that raises is kept as a failed candidate and the
    others vote. The result's events name each member, in order.

    Raises:
        ValueError: no runnable, more than 1,000, or (when called) more than the budget's ``max_calls``.
        AllCandidatesFailed: every model failed (with the first failure).
    """
    if not runnables:
        raise ValueError("ensemble needs at least one runnable")
    check_sample_count(len(runnables), name="len(runnables)")
    return Ensemble(runnables=list(runnables), extract=extract, same=same, return_result=return_result)
