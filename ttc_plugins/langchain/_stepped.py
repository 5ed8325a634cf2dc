"""The LangChain driver: one Runnable shape that runs any family's core (a generator of steps).

A family whose core lives in ``strategies/`` yields :class:`~ttc_plugins.strategies.steps.Step`
objects naming call targets, which the strategy's :class:`Binding` s turn into Runnable calls
(every family: self-consistency, best-of-N, the ensemble, TPO, refine, feedback + edit, budget forcing,
step-back). The steps run on the shared Runnable
driver (:mod:`ttc_plugins._runnable_steps`): each step's calls as a batch per target under the
caller's ``max_concurrency``, callbacks, tags and metadata; a sampled target's calls each metered in a
budget of their own, and identical ones asked of a chat model that takes ``n=`` in one request (the
choices counted, the missing ones sampled one by one). Everything runs inside a child budget of the
caller's, whose spend becomes the result's. Progress goes out as LangChain custom events named
``ttc_progress``, and each call's run is named after its role with ``ttc_*`` metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import BaseModel, ConfigDict, PrivateAttr

from ttc_plugins._runnable_steps import ProviderN, arun_steps, run_steps
from ttc_plugins._runnables import Binding, texts_of
from ttc_plugins.budget import strategy_run_scope
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies import steps

__all__ = ["PROGRESS_EVENT", "Binding", "ConfiguredStrategy", "SteppedStrategy", "StrategyLoop", "texts_of"]

PROGRESS_EVENT = "ttc_progress"
"""The name of the custom events a run dispatches as it goes (``astream_events(version="v2")`` shows
them as ``on_custom_event``): the family's events, a ``call_done`` per call, then ``finish``."""

StrategyLoop = steps.FamilyLoop
"""What a strategy's ``_loop`` returns: its family's core, bound to the input."""


class SteppedStrategy(RunnableSerializable[Any, Any]):
    """Runs the steps of :meth:`_loop` and returns its result's output (or the result itself)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    return_result: bool = False
    use_provider_n: bool = True
    _provider_n: ProviderN = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._provider_n = ProviderN(self.use_provider_n)

    def _wrapped(self) -> Runnable[Any, Any] | None:
        """The chain or model the strategy wraps (its first member, for an ensemble)."""
        for field in ("runnable", "llm"):
            wrapped = getattr(self, field, None)
            if isinstance(wrapped, Runnable):
                return wrapped
        members = getattr(self, "runnables", None)
        return members[0] if members else None

    # The Runnable contract, delegated to the wrapped chain: its input (so as_tool() and Studio's form
    # work), its output unless the full result is asked for, and its configurable fields.
    @property
    def InputType(self) -> Any:  # noqa: N802  (LangChain's name)
        wrapped = self._wrapped()
        return wrapped.InputType if wrapped is not None else Any

    @property
    def OutputType(self) -> Any:  # noqa: N802  (LangChain's name)
        wrapped = self._wrapped()
        return TTCResult if self.return_result or wrapped is None else wrapped.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        wrapped = self._wrapped()
        return wrapped.get_input_schema(config) if wrapped is not None else super().get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        wrapped = self._wrapped()
        if self.return_result or wrapped is None:
            return super().get_output_schema(config)
        return wrapped.get_output_schema(config)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        wrapped = self._wrapped()
        return wrapped.config_specs if wrapped is not None else []

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> ConfiguredStrategy:
        """The strategy with ``config`` bound; ``.with_result()`` on it keeps that config."""
        return ConfiguredStrategy(bound=self, config={**(config or {}), **kwargs}, kwargs={})

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
            bindings = self._bindings()
            report = partial(dispatch_custom_event, PROGRESS_EVENT, config=child)
            result = run_steps(
                self._loop(input), bindings, child, self._provider_n, family=self.get_name(), report=report
            )
        return self._finish(result, run_budget.spent)

    async def _arun(self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        with strategy_run_scope(self.get_name()) as run_budget:
            bindings = self._bindings()
            report = partial(adispatch_custom_event, PROGRESS_EVENT, config=child)
            loop, family = self._loop(input), self.get_name()
            result = await arun_steps(loop, bindings, child, self._provider_n, family=family, report=report)
        return self._finish(result, run_budget.spent)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, **kwargs)


class ConfiguredStrategy(RunnableBinding[Any, Any]):
    """A strategy with a bound config (``strategy.with_config(...)``) that keeps it through ``with_result()``.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> from ttc_plugins.langchain import self_consistency
        >>> bound = self_consistency(RunnableLambda(lambda q: "Answer: 4"), n=2).with_config(run_name="vote")
        >>> full = bound.with_result()
        >>> full.config["run_name"], full.invoke("2 + 2?").answer
        ('vote', '4')
    """

    def with_result(self) -> ConfiguredStrategy:
        """The same strategy and config, returning the full TTCResult."""
        return ConfiguredStrategy(
            bound=self.bound.with_result(), config=self.config, kwargs=self.kwargs,
            config_factories=self.config_factories,
        )  # fmt: skip
