"""The sampling loop the sampling graphs share: ``reset → plan ⇄ sample (Send × wave)``, then select.

``reset`` opens the run (a fresh run id and child budget, candidates cleared), ``plan`` asks a
:class:`~ttc_plugins.strategies.sampling_plan.SamplingPlan` for the next wave, ``fan_out`` sends one
``sample`` branch per sample of the wave (or goes to ``select`` when the plan says stop), and each
branch generates one candidate under the run's budget and reports it. What a graph does with the
candidate (keep it, or verify it first) and how it selects is the graph's own: see
``self_consistency.py`` and ``best_of_n.py``.

Example:
    >>> loop = SamplingLoop(lambda q: "Answer: 4", make_plan=lambda: SamplingPlan(3), input_key="question",
    ...                     output_key="answer", name="demo")
    >>> loop.plan({"candidates": []})
    {'ttc_wave': 3, 'ttc_stop_reason': None}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Overwrite, Send
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins._runnables import metered
from ttc_plugins.budget import Budget, Spend, budget_scope
from ttc_plugins.langgraph._run_budgets import RunBudgets
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.langgraph.state_fields import CandidateListField, TTCResultField
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates
from ttc_plugins.strategies.sampling_plan import SamplingPlan

__all__ = ["RUN_ID", "STOP_REASON", "WAVE", "SamplingLoop", "as_generator", "check_keys", "sampling_schemas"]

# Per-run bookkeeping keys: plain values only, so the state stays checkpointable.
RUN_ID, WAVE, STOP_REASON = "ttc_run_id", "ttc_wave", "ttc_stop_reason"
_RESERVED_KEYS = frozenset({"candidates", "result", RUN_ID, WAVE, STOP_REASON})


def as_generator(generate: Runnable[Any, Any] | Callable[[Any], Any]) -> Runnable[Any, Any]:
    """``generate`` as a Runnable: a Runnable as it is, a function (sync or async) wrapped."""
    if isinstance(generate, Runnable):
        return generate
    if callable(generate):
        return RunnableLambda(generate, name=getattr(generate, "__name__", None))  # sync or async
    raise TypeError(f"generate must be a Runnable or a callable, got {type(generate).__name__}")


def check_keys(input_key: str, output_key: str) -> None:
    """Refuse key names that are empty, equal, or taken by the graph's own bookkeeping."""
    for role, key in (("input_key", input_key), ("output_key", output_key)):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{role} must be a non-empty string, got {key!r}")
        if key in _RESERVED_KEYS:
            raise ValueError(f"{role}={key!r} is a key the graph uses itself; choose another name")
    if input_key == output_key:
        raise ValueError(f"input_key and output_key must differ, both are {input_key!r}")


def sampling_schemas(title: str, input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: str | None, "candidates": CandidateListField, "result": TTCResultField}
    run = {RUN_ID: str, WAVE: int, STOP_REASON: str | None}
    return (
        TypedDict(f"{title}State", {**inputs, **outputs, **run}, total=False),
        TypedDict(f"{title}Input", inputs, total=False),
        TypedDict(f"{title}Output", outputs, total=False),
    )


class SamplingLoop:
    """The nodes and routing every sampling graph shares, for one compiled graph.

    Args:
        generate: a Runnable or a function (sync or async), called with ``state[input_key]``.
        make_plan: a fresh SamplingPlan (a plan is stateless per call, so each ``plan`` step makes one).
        input_key: the state key holding what ``generate`` is called with.
        output_key: the state key the graph writes its answer to (cleared at the start of a run).
        name: the graph's name, also the name of each run's child budget.
        extract: ``output -> answer``; by default the final answer is extracted from the output's text.
    """

    def __init__(
        self,
        generate: Runnable[Any, Any] | Callable[[Any], Any],
        *,
        make_plan: Callable[[], SamplingPlan],
        input_key: str,
        output_key: str,
        name: str,
        extract: AnswerExtractor | None = None,
    ) -> None:
        # Each sample in a child budget of its own: its candidate gets its exact tokens, even from text.
        self.generator = metered(as_generator(generate))
        self.make_plan = make_plan
        self.input_key = input_key
        self.output_key = output_key
        self.name = name
        self.extract = extract
        self._run_budgets = RunBudgets(name)

    def reset(self, state: dict[str, Any], runtime: Runtime[TTCContext]) -> dict[str, Any]:
        """Start a run: a fresh run id and child budget, and nothing left from a previous run."""
        # Overwrite bypasses the candidates reducer: a thread reused with a checkpointer keeps the
        # previous run's state, and its candidates must not pile up into this run's selection.
        if self.input_key not in state:
            raise ValueError(f"{self.name}: the state has no {self.input_key!r} to sample answers for")
        budget = budget_for_run(runtime.context)
        self.make_plan().check_fits(budget)  # an n the budget can never admit fails before any call
        run_id = uuid4().hex
        self._run_budgets.open(run_id, budget)
        return {"candidates": Overwrite([]), "result": None, self.output_key: None, RUN_ID: run_id, STOP_REASON: None}

    def plan(self, state: dict[str, Any]) -> dict[str, Any]:
        """How many samples the next wave draws (0: stop), and why sampling stopped."""
        sampling = self.make_plan()
        wave = sampling.next_wave(state["candidates"])
        return {WAVE: wave, STOP_REASON: sampling.stop_reason}

    def fan_out(self, state: dict[str, Any]) -> list[Send] | str:
        """One ``sample`` branch per sample of the wave, or ``select`` once the plan says stop."""
        if not state[WAVE]:
            return "select"
        start = len(state["candidates"])
        task = {"run_id": state[RUN_ID], "input": state[self.input_key]}
        return [Send("sample", {**task, "index": start + offset}) for offset in range(state[WAVE])]

    def run_budget(self, run_id: str) -> Budget:
        """The run's child budget (opened anew under the context's budget if this process lost it)."""
        return self._run_budgets.get(run_id, budget_for_run(get_runtime().context))

    def close(self, state: dict[str, Any]) -> Spend | None:
        """End the run and return what it spent (None if this process did not see it start)."""
        budget = self._run_budgets.close(state[RUN_ID])
        return budget.spent if budget is not None else None

    def sample(self, task: dict[str, Any], config: RunnableConfig) -> Candidate:
        """Generate the candidate of one ``sample`` branch and report it to the custom stream."""
        with budget_scope(self.run_budget(task["run_id"])):
            try:
                output = self.generator.invoke(task["input"], config)
            except GraphBubbleUp:  # an interrupt or a parent command is control flow, not a failed sample
                raise
            except Exception as error:  # kept as a failed candidate; the others still count
                output = error
        return self._sampled(task, output)

    async def asample(self, task: dict[str, Any], config: RunnableConfig) -> Candidate:
        """The async twin of :meth:`sample`."""
        with budget_scope(self.run_budget(task["run_id"])):
            try:
                output = await self.generator.ainvoke(task["input"], config)
            except GraphBubbleUp:
                raise
            except Exception as error:
                output = error
        return self._sampled(task, output)

    def _sampled(self, task: dict[str, Any], output: Any) -> Candidate:
        candidate = make_candidates([output], start=task["index"], extract=self.extract)[0]
        event = {"event": "sample_done", "index": candidate.index, "answer": candidate.answer, "error": candidate.error}
        get_stream_writer()(event)
        return candidate
