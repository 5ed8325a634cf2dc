"""The budget of each graph run in progress, kept beside the graph's state rather than in it.

A run spans several nodes, so no ``with`` block can hold its child budget open from the first node to
the last, and a Budget (a lock and a live ledger) cannot go into checkpointed state. The first node
opens the run's child budget here under a fresh run id, which is all the state carries; the sampling
nodes charge it, and the last node closes it and reports its spend.

A run that never reaches its last node (cancelled, or its parent failed) leaves its entry behind; the
oldest entries are dropped past ``capacity``. A node that finds no entry (dropped, or the run was
resumed in another process) opens a new one under the same parent budget, so limits still hold; only
the run's reported spend then misses what was spent before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import get_runtime

from ttc_plugins.budget import Budget, budget_role, budget_scope
from ttc_plugins.langgraph.context import budget_for_run

logger = logging.getLogger(__name__)


class RunBudgets:
    """Child budgets by run id for one compiled graph.

    Example:
        >>> parent = Budget(max_calls=10)
        >>> runs = RunBudgets("self_consistency")
        >>> run = runs.open("run-1", parent)
        >>> run.reserve(input_tokens=3, max_output_tokens=2).commit(3, 2)
        >>> runs.close("run-1").spent.calls, parent.spent.calls, runs.close("run-1")
        (1, 1, None)
    """

    def __init__(self, name: str, capacity: int = 4096) -> None:
        self.name = name
        self.capacity = capacity
        self._runs: OrderedDict[str, Budget] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, run_id: str, parent: Budget | None) -> Budget:
        """Start the ledger of run ``run_id``: a child of ``parent``, or an unlimited budget without one."""
        with self._lock:
            return self._open_locked(run_id, parent)

    def get(self, run_id: str, parent: Budget | None) -> Budget:
        """The ledger of run ``run_id``, opened anew under ``parent`` if there is none."""
        with self._lock:
            budget = self._runs.get(run_id)
            return budget if budget is not None else self._open_locked(run_id, parent)

    def _open_locked(self, run_id: str, parent: Budget | None) -> Budget:
        budget = parent.child(name=self.name) if parent is not None else Budget(name=self.name)
        self._runs[run_id] = budget
        while len(self._runs) > self.capacity:
            dropped, _ = self._runs.popitem(last=False)
            logger.debug("%s: dropped the budget of unfinished run %s", self.name, dropped)
        return budget

    def close(self, run_id: str) -> Budget | None:
        """End run ``run_id`` and return its ledger (None if it has none here)."""
        with self._lock:
            return self._runs.pop(run_id, None)


RUN_ID = "ttc_run_id"
"""The state key (and ``Send`` argument key) holding the run id a node's calls are charged under."""

CallPlan = Callable[[dict[str, Any]], tuple[Runnable[Any, Any], Any]]
"""``state -> (runnable, payload)``: the one call a node makes."""
CallDone = Callable[[dict[str, Any], Any], dict[str, Any]]
"""``(state, reply) -> update``; the reply is the call's output, or the exception it raised."""


def charged_call_node(runs: RunBudgets, name: str, *, role: str, plan: CallPlan, done: CallDone) -> Runnable[Any, Any]:
    """A node that makes one call, charged to the ledger of the run in ``state[RUN_ID]`` under ``role``.

    A failed call does not fail the node: ``done`` gets the exception (a budget refusal included) and
    decides what it means for the strategy. An interrupt or a parent command is control flow, not a
    failure, and propagates. The node works under ``invoke`` and ``ainvoke`` (an async step needs the
    latter).

    Example:
        >>> from typing import TypedDict
        >>> from langgraph.graph import START, StateGraph
        >>> class State(TypedDict, total=False):
        ...     ttc_run_id: str
        ...     reply: str
        >>> runs = RunBudgets("demo")
        >>> _ = runs.open("run-1", None)
        >>> divide = RunnableLambda(lambda x: 1 / x)
        >>> node = charged_call_node(
        ...     runs, "divide", role="critic", plan=lambda state: (divide, 0),
        ...     done=lambda state, reply: {"reply": type(reply).__name__},
        ... )
        >>> graph = StateGraph(State).add_node("divide", node).add_edge(START, "divide").compile()
        >>> graph.invoke({"ttc_run_id": "run-1"})["reply"]
        'ZeroDivisionError'
    """

    def ledger(state: dict[str, Any]) -> Budget:
        return runs.get(state[RUN_ID], budget_for_run(get_runtime().context))

    def call(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        runnable, payload = plan(state)
        with budget_scope(ledger(state)), budget_role(role):
            try:
                reply = runnable.invoke(payload, config)
            except GraphBubbleUp:
                raise
            except Exception as error:  # the strategy decides what a failed call means
                reply = error
        return done(state, reply)

    async def acall(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        runnable, payload = plan(state)
        with budget_scope(ledger(state)), budget_role(role):
            try:
                reply = await runnable.ainvoke(payload, config)
            except GraphBubbleUp:
                raise
            except Exception as error:
                reply = error
        return done(state, reply)

    return RunnableLambda(call, afunc=acall, name=name)
