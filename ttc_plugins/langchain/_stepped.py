"""The Runnable shape of the multi-step strategies (refine, feedback + edit, TPO).

Each strategy writes its decisions once, as a generator that yields steps — "run this Runnable on
these payloads, charged to this role" — and receives the results (exceptions as values). A sync
and an async driver run the steps (a batch per step, under the caller's ``max_concurrency``,
callbacks, tags and metadata), all inside a child budget whose spend becomes the result's.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict

from ttc_plugins.budget import budget_role, strategy_run_scope
from ttc_plugins.results import TTCResult

__all__ = ["Step", "SteppedStrategy", "StrategyLoop"]

# (role the calls are charged to, the Runnable to run, one payload per call)
Step = tuple[str, Runnable[Any, Any], list[Any]]
StrategyLoop = Generator[Step, list[Any], TTCResult]


class SteppedStrategy(RunnableSerializable[Any, Any]):
    """Runs the steps of :meth:`_loop` and returns its result's output (or the result itself)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    return_result: bool = False

    def with_result(self) -> SteppedStrategy:
        """The same strategy, returning the full TTCResult (every version, its score, the stop rule)."""
        return self.model_copy(update={"return_result": True})

    def _loop(self, input: Any) -> StrategyLoop:
        raise TypeError(f"{type(self).__name__} must define _loop()")

    def _finish(self, result: TTCResult, spend: Any) -> Any:
        result.spend = spend
        return result if self.return_result else result.output

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        with strategy_run_scope(self.get_name()) as run_budget:
            loop, replies = self._loop(input), None
            try:
                while True:
                    role, runnable, payloads = loop.send(replies)
                    with budget_role(role):
                        replies = runnable.batch(payloads, child, return_exceptions=True)
            except StopIteration as done:
                result = done.value
        return self._finish(result, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        with strategy_run_scope(self.get_name()) as run_budget:
            loop, replies = self._loop(input), None
            try:
                while True:
                    role, runnable, payloads = loop.send(replies)
                    with budget_role(role):
                        replies = await runnable.abatch(payloads, child, return_exceptions=True)
            except StopIteration as done:
                result = done.value
        return self._finish(result, run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)
