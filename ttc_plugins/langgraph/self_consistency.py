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

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Overwrite

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langgraph._sampling_graph import STOP_REASON, SamplingLoop, check_keys, sampling_schemas
from ttc_plugins.langgraph.context import TTCContext
from ttc_plugins.langgraph.state_fields import candidate_data, result_data
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import AnswerExtractor, voted_result
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["create_self_consistency_graph"]


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
    check_keys(input_key, output_key)
    loop = SamplingLoop(
        generate,
        make_plan=lambda: SamplingPlan(n, wave_size=wave_size, adaptive=rule, same=same),
        input_key=input_key,
        output_key=output_key,
        name=name,
        extract=extract,
    )

    def sample(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {"candidates": [candidate_data(loop.sample(task, config))]}

    async def asample(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {"candidates": [candidate_data(await loop.asample(task, config))]}

    def select(state: dict[str, Any]) -> dict[str, Any]:
        spend = loop.close(state)  # closed first: voting may raise
        candidates: list[Candidate] = state["candidates"]
        result = voted_result(candidates, stop_reason=state[STOP_REASON] or "done", same=same)
        result.spend = spend
        chosen = result.chosen_candidate
        get_stream_writer()({"event": "vote", "answer": result.answer, "votes": chosen.votes if chosen else 0})
        voted = [candidate_data(c) for c in result.candidates]
        return {output_key: result.answer, "candidates": Overwrite(voted), "result": result_data(result)}

    state_schema, input_schema, output_schema = sampling_schemas("SelfConsistency", input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("reset", loop.reset)
    builder.add_node("plan", loop.plan)
    builder.add_node("sample", RunnableLambda(sample, afunc=asample, name="sample"))
    builder.add_node("select", select)
    builder.add_edge(START, "reset")
    builder.add_edge("reset", "plan")
    builder.add_conditional_edges("plan", loop.fan_out, ["sample", "select"])
    builder.add_edge("sample", "plan")
    builder.add_edge("select", END)
    return builder.compile(checkpointer=checkpointer, name=name)
