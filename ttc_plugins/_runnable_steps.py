"""The step driver over langchain-core Runnables: runs any family's core as batches of Runnable calls.

Shared by LangChain's strategies and LangGraph's in-node wrappers (``sampled_node``), which both
build on langchain-core; LangGraph's subgraphs have their own driver, the step graph. Each step's
calls run as one batch per call target under the caller's config (``max_concurrency``, callbacks,
tags, metadata) and the step's budget role, and come back in call order, failures as values; a
``sampled`` target's calls are metered one by one (or asked of a chat model as one ``n=`` request).

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> from ttc_plugins.strategies.sampling import self_consistency_loop
    >>> answers = iter(["Answer: 4", "Answer: 5", "so 4"])
    >>> bindings = {"generate": Binding(RunnableLambda(lambda q: next(answers)), sampled=True)}
    >>> result = run_steps(self_consistency_loop("2 + 2?", n=3), bindings, {"max_concurrency": 1}, ProviderN(False))
    >>> result.answer, [c.votes for c in result.candidates]
    ('4', [2, 1, 2])
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_executor_for_config

from ttc_plugins._runnable_sampling import ProviderN, asample, sample
from ttc_plugins._runnables import Binding, metered
from ttc_plugins.budget import budget_role
from ttc_plugins.results import TTCEvent, TTCResult
from ttc_plugins.strategies.steps import FamilyLoop, Step

__all__ = ["ProviderN", "arun_steps", "run_steps"]

Progress = Callable[[TTCEvent], None]


def _groups(step: Step) -> list[list[int]]:
    """The positions of the step's calls, grouped by target (an ensemble asks a different model per call)."""
    groups: dict[str, list[int]] = {}
    for position, call in enumerate(step.calls):
        groups.setdefault(call.target, []).append(position)
    return list(groups.values())


@dataclass(frozen=True)
class _Calls:
    """One target's calls of a step: its binding, the Runnable's inputs and whether they repeat one input."""

    binding: Binding
    positions: list[int]
    inputs: list[Any]
    repeated: bool

    @classmethod
    def of(cls, step: Step, positions: list[int], bindings: Mapping[str, Binding]) -> _Calls:
        binding = bindings[step.calls[positions[0]].target]
        first = step.calls[positions[0]].payload
        repeated = len(positions) > 1 and all(step.calls[p].payload is first for p in positions)
        return cls(binding, positions, [binding.input(step.calls[p].payload) for p in positions], repeated)

    def run(self, config: RunnableConfig, provider_n: ProviderN) -> list[tuple[int, Any]]:
        runnable, inputs = self.binding.runnable, self.inputs
        if not self.binding.sampled:
            outputs = runnable.batch(inputs, config, return_exceptions=True)
        elif self.repeated:
            outputs = sample(runnable, inputs[0], len(inputs), config, provider_n)
        else:
            outputs = metered(runnable).batch(inputs, config, return_exceptions=True)
        return list(zip(self.positions, outputs, strict=True))

    async def arun(self, config: RunnableConfig, provider_n: ProviderN) -> list[tuple[int, Any]]:
        runnable, inputs = self.binding.runnable, self.inputs
        if not self.binding.sampled:
            outputs = await runnable.abatch(inputs, config, return_exceptions=True)
        elif self.repeated:
            outputs = await asample(runnable, inputs[0], len(inputs), config, provider_n)
        else:
            outputs = await metered(runnable).abatch(inputs, config, return_exceptions=True)
        return list(zip(self.positions, outputs, strict=True))


def _replies(step: Step, done: list[list[tuple[int, Any]]], bindings: Mapping[str, Binding], passes: tuple) -> list:
    outputs = dict(pair for pairs in done for pair in pairs)
    replies = []
    for position, call in enumerate(step.calls):
        output = outputs[position]
        if passes and isinstance(output, passes):
            raise output  # control flow (a graph interrupt), not a failed call
        replies.append(bindings[call.target].reply(output))
    return replies


def run_steps(
    loop: FamilyLoop,
    bindings: Mapping[str, Binding],
    config: RunnableConfig,
    provider_n: ProviderN,
    *,
    progress: Progress | None = None,
    passes: tuple[type[BaseException], ...] = (),
) -> TTCResult:
    """Run a family's core to its result (see the module docstring).

    Args:
        loop: the family's core.
        bindings: the binding of each call target.
        config: the caller's config, handed to every batch.
        provider_n: whether the wrapped chat model honours ``n=`` (remembered across runs).
        progress: called with each event the steps carry, as they come.
        passes: exception types a call may raise that are control flow and end the run (re-raised).
    """
    replies: list[Any] | None = None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]  # the first send must be None
        except StopIteration as done:
            return done.value
        for event in step.progress if progress else ():
            progress(event)
        calls = [_Calls.of(step, positions, bindings) for positions in _groups(step)]
        with budget_role(step.role):
            if len(calls) == 1:
                finished = [calls[0].run(config, provider_n)]
            else:  # several targets (an ensemble's members) side by side, up to max_concurrency
                with get_executor_for_config(config) as pool:
                    finished = list(pool.map(lambda group: group.run(config, provider_n), calls))
        replies = _replies(step, finished, bindings, passes)


async def arun_steps(
    loop: FamilyLoop,
    bindings: Mapping[str, Binding],
    config: RunnableConfig,
    provider_n: ProviderN,
    *,
    progress: Progress | None = None,
    passes: tuple[type[BaseException], ...] = (),
) -> TTCResult:
    """The async twin of :func:`run_steps`."""
    replies: list[Any] | None = None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value
        for event in step.progress if progress else ():
            progress(event)
        calls = [_Calls.of(step, positions, bindings) for positions in _groups(step)]
        limit = asyncio.Semaphore(config.get("max_concurrency") or len(calls))
        with budget_role(step.role):
            finished = await asyncio.gather(*(_bounded(limit, group.arun(config, provider_n)) for group in calls))
        replies = _replies(step, list(finished), bindings, passes)


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[Any]) -> Any:
    async with limit:
        return await work
