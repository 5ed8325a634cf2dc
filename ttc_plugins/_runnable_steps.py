"""The step driver over langchain-core Runnables: runs any family's core as batches of Runnable calls.

Shared by LangChain's strategies and LangGraph's in-node wrappers (``sampled_node``), which both
build on langchain-core; LangGraph's subgraphs have their own driver, the step graph. Each step's
calls run as one batch per call target under the caller's config (``max_concurrency``, callbacks,
tags, metadata) and the step's budget role, and come back in call order, failures as values; a
``sampled`` target's calls are metered one by one (or asked of a chat model as one ``n=`` request).
Each call's run is named after its role and carries ``ttc_family``, ``ttc_role``, ``ttc_target``,
``ttc_step`` and ``ttc_call`` in its metadata, so a trace says what every call was for; progress
(the family's events, a ``call_done`` per call, ``finish``) goes to ``report`` as it happens.

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
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_executor_for_config

from ttc_plugins._runnable_sampling import ProviderN, asample, sample
from ttc_plugins._runnables import Binding, metered
from ttc_plugins.budget import budget_role
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.progress import call_done, finished, progress_of
from ttc_plugins.strategies.steps import FamilyLoop, Step

__all__ = ["ProviderN", "arun_steps", "run_steps"]

Report = Callable[[dict[str, Any]], Any]
"""Where progress goes (``{"event": ...}`` dicts, :mod:`ttc_plugins.strategies.progress`); may be async."""


def _groups(step: Step) -> list[list[int]]:
    """The positions of the step's calls, grouped by target (an ensemble asks a different model per call)."""
    groups: dict[str, list[int]] = {}
    for position, call in enumerate(step.calls):
        groups.setdefault(call.target, []).append(position)
    return list(groups.values())


@dataclass(frozen=True)
class _Calls:
    """One target's calls of a step: its binding, the Runnable's inputs and configs, and whether the calls
    repeat one input (samples, which a chat model that honours ``n=`` answers in one request)."""

    binding: Binding
    positions: list[int]
    inputs: list[Any]
    configs: list[RunnableConfig]
    repeated: bool

    @classmethod
    def of(cls, step: Step, positions: list[int], bindings: Mapping[str, Binding], config: RunnableConfig,
           trace: dict[str, Any]) -> _Calls:  # fmt: skip
        target = step.calls[positions[0]].target
        binding, first = bindings[target], step.calls[positions[0]].payload
        repeated = len(positions) > 1 and all(step.calls[p].payload is first for p in positions)
        tagged = {**trace, "ttc_role": step.role, "ttc_target": target}
        configs = [
            {**config, "run_name": step.role, "metadata": {**config.get("metadata", {}), **tagged, "ttc_call": p}}
            for p in positions
        ]
        inputs = [binding.input(step.calls[p].payload) for p in positions]
        return cls(binding, positions, inputs, configs, repeated)

    def run(self, provider_n: ProviderN) -> list[tuple[int, Any]]:
        runnable, inputs = self.binding.runnable, self.inputs
        if not self.binding.sampled:
            outputs = runnable.batch(inputs, self.configs, return_exceptions=True)
        elif self.repeated:
            outputs = sample(runnable, inputs[0], self.configs, provider_n)
        else:
            outputs = metered(runnable).batch(inputs, self.configs, return_exceptions=True)
        return list(zip(self.positions, outputs, strict=True))

    async def arun(self, provider_n: ProviderN) -> list[tuple[int, Any]]:
        runnable, inputs = self.binding.runnable, self.inputs
        if not self.binding.sampled:
            outputs = await runnable.abatch(inputs, self.configs, return_exceptions=True)
        elif self.repeated:
            outputs = await asample(runnable, inputs[0], self.configs, provider_n)
        else:
            outputs = await metered(runnable).abatch(inputs, self.configs, return_exceptions=True)
        return list(zip(self.positions, outputs, strict=True))


class _Run:
    """One run's bookkeeping: the step numbers, the progress reported so far, and the replies."""

    def __init__(self, bindings: Mapping[str, Binding], config: RunnableConfig, family: str | None,
                 report: Report | None, passes: tuple[type[BaseException], ...]) -> None:  # fmt: skip
        self.bindings, self.config, self.family, self.report, self.passes = bindings, config, family, report, passes
        self.number = -1
        self.reported = 0

    def calls(self, step: Step) -> list[_Calls]:
        self.number += 1
        trace = {"ttc_family": self.family, "ttc_step": self.number}
        return [_Calls.of(step, positions, self.bindings, self.config, trace) for positions in _groups(step)]

    def progress(self, step: Step) -> list[dict[str, Any]]:
        self.reported += len(step.progress)
        return [progress_of(event) for event in step.progress]

    def replies(self, step: Step, done: list[list[tuple[int, Any]]]) -> tuple[list[Any], list[dict[str, Any]]]:
        outputs = dict(pair for pairs in done for pair in pairs)
        replies, reports = [], []
        for position, call in enumerate(step.calls):
            output = outputs[position]
            if self.passes and isinstance(output, self.passes):
                raise output  # control flow (a graph interrupt), not a failed call
            replies.append(self.bindings[call.target].reply(output))
            reports.append(call_done(role=step.role, target=call.target, step=self.number, call=position, reply=output))
        return replies, reports

    def ending(self, result: TTCResult) -> list[dict[str, Any]]:
        return [*(progress_of(event) for event in result.events[self.reported :]), finished(result)]


def run_steps(
    loop: FamilyLoop,
    bindings: Mapping[str, Binding],
    config: RunnableConfig,
    provider_n: ProviderN,
    *,
    family: str | None = None,
    report: Report | None = None,
    passes: tuple[type[BaseException], ...] = (),
) -> TTCResult:
    """Run a family's core to its result (see the module docstring).

    Args:
        loop: the family's core.
        bindings: the binding of each call target.
        config: the caller's config, handed to every batch.
        provider_n: whether the wrapped chat model honours ``n=`` (remembered across runs).
        family: the strategy's name, for the calls' metadata.
        report: where progress goes as it happens.
        passes: exception types a call may raise that are control flow and end the run (re-raised).
    """
    run, replies = _Run(bindings, config, family, report, passes), None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]  # the first send must be None
        except StopIteration as done:
            _send(report, run.ending(done.value))
            return done.value
        _send(report, run.progress(step))
        calls = run.calls(step)
        with budget_role(step.role):
            if len(calls) == 1:
                finished_calls = [calls[0].run(provider_n)]
            else:  # several targets (an ensemble's members) side by side, up to max_concurrency
                with get_executor_for_config(config) as pool:
                    finished_calls = list(pool.map(lambda group: group.run(provider_n), calls))
        replies, reports = run.replies(step, finished_calls)
        _send(report, reports)


async def arun_steps(
    loop: FamilyLoop,
    bindings: Mapping[str, Binding],
    config: RunnableConfig,
    provider_n: ProviderN,
    *,
    family: str | None = None,
    report: Report | None = None,
    passes: tuple[type[BaseException], ...] = (),
) -> TTCResult:
    """The async twin of :func:`run_steps` (an async ``report`` is awaited)."""
    run, replies = _Run(bindings, config, family, report, passes), None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            await _asend(report, run.ending(done.value))
            return done.value
        await _asend(report, run.progress(step))
        calls = run.calls(step)
        limit = asyncio.Semaphore(config.get("max_concurrency") or len(calls))
        with budget_role(step.role):
            finished_calls = await asyncio.gather(*(_bounded(limit, group.arun(provider_n)) for group in calls))
        replies, reports = run.replies(step, list(finished_calls))
        await _asend(report, reports)


def _send(report: Report | None, items: list[dict[str, Any]]) -> None:
    for item in items if report is not None else ():
        report(item)


async def _asend(report: Report | None, items: list[dict[str, Any]]) -> None:
    for item in items if report is not None else ():
        sent = report(item)
        if inspect.isawaitable(sent):
            await sent


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[Any]) -> Any:
    async with limit:
        return await work
