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

from langchain_core.runnables import Runnable
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from ttc_plugins._runnables import Binding
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langgraph._generator import as_generator
from ttc_plugins.langgraph._step_graph import step_graph
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.sampling import SELF_CONSISTENCY_ROLES, self_consistency_loop
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
    """Build self-consistency as a compiled graph: ``start → step ⇄ generator (Send × wave)``.

    ``step`` runs :func:`ttc_plugins.strategies.sampling.self_consistency_loop` over the samples so
    far: each wave fans out one ``generator`` branch per sample, in parallel up to the config's
    ``max_concurrency``, until all ``n`` are drawn, the vote is settled or the budget refused a sample;
    then it votes. The loop ends by itself, not by the recursion limit: two steps per wave.

    Every model call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or, without one, of the caller's ``budget_scope``; the child's
    spend is ``result.spend``. Progress goes to ``stream_mode="custom"``: ``{"event": "call_done", "role",
    "target", "step", "call", "error"}`` per sample, the vote as ``{"event": "vote", "answer", "weight",
    "groups"}``, then ``{"event": "finish", "chosen", "score", "stop_reason"}`` (from a parent graph,
    stream with ``subgraphs=True``).

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
    options = {"n": n, "adaptive": rule, "wave_size": wave_size, "same": same, "extract": extract}
    return step_graph(
        lambda user_input: self_consistency_loop(user_input, **options),
        {"generate": Binding(as_generator(generate), sampled=True)},
        roles=SELF_CONSISTENCY_ROLES, input_key=input_key, output_key=output_key, name=name,
        checkpointer=checkpointer, title="SelfConsistency", writes=lambda result: result.answer,
    )  # fmt: skip
