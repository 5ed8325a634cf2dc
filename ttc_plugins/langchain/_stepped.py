"""The Runnable shape of the multi-step strategies (refine, feedback + edit, TPO).

Each strategy's decisions are a generator that yields steps and receives the results (exceptions as
values). A family whose core lives in ``strategies/`` yields :class:`~ttc_plugins.strategies.steps.Step`
objects naming targets, which the strategy's :class:`Binding` s turn into Runnable calls (TPO, refine,
feedback + edit); budget forcing and step-back still yield ``(role, runnable, payloads)`` tuples until
their cores move. A sync and an async driver
run the steps (a batch per step, under the caller's ``max_concurrency``, callbacks, tags and
metadata), all inside a child budget whose spend becomes the result's.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict

from ttc_plugins._runnables import Binding, texts_of
from ttc_plugins.budget import budget_role, strategy_run_scope
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies import steps

__all__ = ["Binding", "Step", "SteppedStrategy", "StrategyLoop", "texts_of"]

# (role the calls are charged to, the Runnable to run, one payload per call)
Step = tuple[str, Runnable[Any, Any], list[Any]]
StrategyLoop = Generator[Step | steps.Step, list[Any], TTCResult]


def _resolve(step: Step | steps.Step, bindings: Mapping[str, Binding]) -> tuple[str, Binding, list[Any]]:
    if not isinstance(step, steps.Step):
        role, runnable, payloads = step
        return role, Binding(runnable), payloads
    (target,) = {call.target for call in step.calls}  # a step's calls share one target in every family
    binding = bindings[target]
    payloads = [binding.render(call.payload) if binding.render else call.payload for call in step.calls]
    return step.role, binding, payloads


def _read(binding: Binding, replies: list[Any]) -> list[Any]:
    if binding.read is None:
        return replies
    return [reply if isinstance(reply, BaseException) else binding.read(reply) for reply in replies]


class SteppedStrategy(RunnableSerializable[Any, Any]):
    """Runs the steps of :meth:`_loop` and returns its result's output (or the result itself)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    return_result: bool = False

    def with_result(self) -> SteppedStrategy:
        """The same strategy, returning the full TTCResult (every version, its score, the stop rule)."""
        return self.model_copy(update={"return_result": True})

    def _loop(self, input: Any) -> StrategyLoop:
        raise TypeError(f"{type(self).__name__} must define _loop()")

    def _bindings(self) -> Mapping[str, Binding]:
        """The Runnables that answer the core's call targets (for families whose core yields ``Step`` s)."""
        return {}

    def _finish(self, result: TTCResult, spend: Any) -> Any:
        result.spend = spend
        return result if self.return_result else result.output

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        with strategy_run_scope(self.get_name()) as run_budget:
            loop, replies, bindings = self._loop(input), None, self._bindings()
            try:
                while True:
                    role, binding, payloads = _resolve(loop.send(replies), bindings)
                    with budget_role(role):
                        replies = _read(binding, binding.runnable.batch(payloads, child, return_exceptions=True))
            except StopIteration as done:
                result = done.value
        return self._finish(result, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        with strategy_run_scope(self.get_name()) as run_budget:
            loop, replies, bindings = self._loop(input), None, self._bindings()
            try:
                while True:
                    role, binding, payloads = _resolve(loop.send(replies), bindings)
                    with budget_role(role):
                        outputs = await binding.runnable.abatch(payloads, child, return_exceptions=True)
                    replies = _read(binding, outputs)
            except StopIteration as done:
                result = done.value
        return self._finish(result, run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)
