"""Self-consistency as a LangGraph subgraph: one ``Send`` branch per sample, then a majority vote.

Contract: reads ``state[input_key]``, samples ``generate`` on it up to ``n`` times under the caller's
budget, and writes the winning answer to ``state[output_key]``, the voted ``candidates`` and the ``result``.

Example:
    >>> graph = create_self_consistency_graph(lambda question: "2 + 2 = 4. Answer: 4", n=3)
    >>> out = graph.invoke({"question": "What is 2 + 2?"})
    >>> out["answer"], [c.votes for c in out["candidates"]], out["result"].stop_reason
    ('4', [3, 3, 3], 'done')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Checkpointer, Overwrite, Send
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import Budget, budget_scope
from ttc_plugins.langgraph._run_budgets import RunBudgets
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.langgraph.state_fields import CandidateListField, TTCResultField, candidate_data, result_data
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["create_self_consistency_graph"]

# Per-run bookkeeping keys: plain values only, so the state stays checkpointable.
RUN_ID, WAVE, STOP_REASON = "ttc_run_id", "ttc_wave", "ttc_stop_reason"
_RESERVED_KEYS = frozenset({"candidates", "result", RUN_ID, WAVE, STOP_REASON})


def _as_runnable(generate: Runnable[Any, Any] | Callable[[Any], Any]) -> Runnable[Any, Any]:
    if isinstance(generate, Runnable):
        return generate
    if callable(generate):
        return RunnableLambda(generate, name=getattr(generate, "__name__", None))  # sync or async
    raise TypeError(f"generate must be a Runnable or a callable, got {type(generate).__name__}")


def _check_keys(input_key: str, output_key: str) -> None:
    for role, key in (("input_key", input_key), ("output_key", output_key)):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{role} must be a non-empty string, got {key!r}")
        if key in _RESERVED_KEYS:
            raise ValueError(f"{role}={key!r} is a key the graph uses itself; choose another name")
    if input_key == output_key:
        raise ValueError(f"input_key and output_key must differ, both are {input_key!r}")


def _schemas(input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: str | None, "candidates": CandidateListField, "result": TTCResultField}
    run = {RUN_ID: str, WAVE: int, STOP_REASON: str | None}
    state = TypedDict("SelfConsistencyState", {**inputs, **outputs, **run}, total=False)
    return (
        state,
        TypedDict("SelfConsistencyInput", inputs, total=False),
        TypedDict("SelfConsistencyOutput", outputs, total=False),
    )


def create_self_consistency_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    n: int = 8,
    adaptive: bool | AdaptiveStop = False,
    wave_size: int | None = None,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "self_consistency",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build self-consistency as a compiled graph: ``reset → plan ⇄ sample (Send × wave) → select``.

    ``plan`` asks a :class:`~ttc_plugins.strategies.sampling_plan.SamplingPlan` for the next wave; each
    wave fans out one ``sample`` branch per sample, in parallel up to the config's ``max_concurrency``,
    and loops back to ``plan`` until the plan says stop (all ``n`` drawn, the vote settled, or the budget
    refused a sample); ``select`` then votes. The loop ends by itself, not by the recursion limit: it
    takes two steps per wave. Samples, votes and stop reasons are those of
    :func:`ttc_plugins.langchain.self_consistency`.

    Every model call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or, without one, of the caller's ``budget_scope``; the child's
    spend is ``result.spend``. Progress goes to ``stream_mode="custom"`` as
    ``{"event": "sample_done", "index", "answer", "error"}`` per sample and
    ``{"event": "vote", "answer", "votes"}`` at the end (from a parent graph, stream with ``subgraphs=True``).

    Args:
        generate: a Runnable (model, chain, graph) or a plain function, sync or async, called with
            ``state[input_key]``; it needs some randomness, or all samples agree by construction.
        n: the most samples to draw.
        adaptive: stop once the vote is settled: ``True`` for the rule that never changes the outcome,
            or an :class:`~ttc_plugins.strategies.select.AdaptiveStop`.
        wave_size: samples per wave after the first when ``adaptive`` (default 2).
        extract: ``output -> answer``; by default the final answer is extracted from the output's text.
        same: answer equivalence for counting votes.
        input_key: the state key holding what ``generate`` is called with.
        output_key: the state key the winning answer is written to (None when no sample had an
            extractable answer; ``result.output`` then holds the first usable output).
        name: the compiled graph's name, also the name of the run's child budget.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` and ``result`` (a
        :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node(name, graph)``.

    Raises:
        ValueError: a bad ``n``, ``wave_size`` or key name (when the graph is built).
        AllCandidatesFailed: every sample raised (when the graph runs).
        BudgetExceeded: the budget could not pay for even one sample (when the graph runs).
    """
    rule = AdaptiveStop() if adaptive is True else (adaptive or None)
    SamplingPlan(n, wave_size=wave_size, adaptive=rule, same=same)  # bad options fail here, not at the first run
    _check_keys(input_key, output_key)
    sampler = _as_runnable(generate)
    run_budgets = RunBudgets(name)

    def reset(state: dict[str, Any], runtime: Runtime[TTCContext]) -> dict[str, Any]:
        # Overwrite bypasses the candidates reducer: a thread reused with a checkpointer keeps the
        # previous run's state, and its candidates must not pile up into this run's vote.
        if input_key not in state:
            raise ValueError(f"{name}: the state has no {input_key!r} to sample answers for")
        run_id = uuid4().hex
        run_budgets.open(run_id, budget_for_run(runtime.context))
        return {"candidates": Overwrite([]), "result": None, output_key: None, RUN_ID: run_id, STOP_REASON: None}

    def plan(state: dict[str, Any]) -> dict[str, Any]:
        sampling = SamplingPlan(n, wave_size=wave_size, adaptive=rule, same=same)  # stateless per call
        wave = sampling.next_wave(state["candidates"])
        return {WAVE: wave, STOP_REASON: sampling.stop_reason}

    def fan_out(state: dict[str, Any]) -> list[Send] | str:
        if not state[WAVE]:
            return "select"
        start = len(state["candidates"])
        task = {"run_id": state[RUN_ID], "input": state[input_key]}
        return [Send("sample", {**task, "index": start + offset}) for offset in range(state[WAVE])]

    def sampled(task: dict[str, Any], output: Any) -> dict[str, Any]:
        candidate = make_candidates([output], start=task["index"], extract=extract)[0]
        event = {"event": "sample_done", "index": candidate.index, "answer": candidate.answer, "error": candidate.error}
        get_stream_writer()(event)
        return {"candidates": [candidate_data(candidate)]}

    def run_budget(task: dict[str, Any]) -> Budget:
        return run_budgets.get(task["run_id"], budget_for_run(get_runtime().context))

    def sample(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        with budget_scope(run_budget(task)):
            try:
                output = sampler.invoke(task["input"], config)
            except GraphBubbleUp:  # an interrupt or a parent command is control flow, not a failed sample
                raise
            except Exception as error:  # kept as a failed candidate; the others still vote
                output = error
        return sampled(task, output)

    async def asample(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        with budget_scope(run_budget(task)):
            try:
                output = await sampler.ainvoke(task["input"], config)
            except GraphBubbleUp:
                raise
            except Exception as error:
                output = error
        return sampled(task, output)

    def select(state: dict[str, Any]) -> dict[str, Any]:
        budget = run_budgets.close(state[RUN_ID])  # closed first: voting may raise
        candidates: list[Candidate] = state["candidates"]
        result = voted_result(candidates, stop_reason=state[STOP_REASON] or "done", same=same)
        result.spend = budget.spent if budget is not None else None
        chosen = result.chosen_candidate
        get_stream_writer()({"event": "vote", "answer": result.answer, "votes": chosen.votes if chosen else 0})
        voted = [candidate_data(c) for c in result.candidates]
        return {output_key: result.answer, "candidates": Overwrite(voted), "result": result_data(result)}

    state_schema, input_schema, output_schema = _schemas(input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("reset", reset)
    builder.add_node("plan", plan)
    builder.add_node("sample", RunnableLambda(sample, afunc=asample, name="sample"))
    builder.add_node("select", select)
    builder.add_edge(START, "reset")
    builder.add_edge("reset", "plan")
    builder.add_conditional_edges("plan", fan_out, ["sample", "select"])
    builder.add_edge("sample", "plan")
    builder.add_edge("select", END)
    return builder.compile(checkpointer=checkpointer, name=name)
