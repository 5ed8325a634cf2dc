"""Make an existing LangGraph node answer by majority vote: run it n times, keep the winning update.

Contract: ``sampled_node(node, n=5)`` takes the state and returns an update, like ``node``; it is the
update whose ``answer_key`` value most runs agree on, plus the run's TTCResult under ``result_key``.

Example:
    >>> import itertools
    >>> from typing import TypedDict
    >>> from langgraph.graph import START, StateGraph
    >>> from ttc_plugins import TTCResult
    >>> class State(TypedDict, total=False):
    ...     question: str
    ...     answer: str
    ...     ttc_result: TTCResult
    >>> replies = itertools.cycle(["Paris", "Lyon", "paris"])
    >>> def solve(state: State) -> dict:
    ...     return {"answer": next(replies)}
    >>> builder = StateGraph(State)
    >>> _ = builder.add_node("solve", sampled_node(solve, n=3)).add_edge(START, "solve")
    >>> out = builder.compile().invoke({"question": "Capital of France?"}, {"max_concurrency": 1})
    >>> out["answer"], [c.votes for c in out["ttc_result"].candidates]
    ('Paris', [2, 1, 2])
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from ttc_plugins._runnable_steps import ProviderN, arun_steps, run_steps
from ttc_plugins._runnables import Binding
from ttc_plugins.answers import AnswerMatcher, extract_answer, same_answer
from ttc_plugins.langgraph.context import strategy_run_budget
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.sampling import self_consistency_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["sampled_node"]

Node = Callable[..., "dict[str, Any] | Awaitable[dict[str, Any]]"]

# The arguments LangGraph injects into a node by parameter name; each run of the node gets the same.
_INJECTED = ("config", "runtime", "writer", "store")


def _injected_arguments(node: Node) -> frozenset[str]:
    try:
        parameters = inspect.signature(node).parameters
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return frozenset()
    return frozenset(name for name in _INJECTED if name in parameters)


def answer_in_value(value: Any) -> str | None:
    """The answer a state value gives: the final answer marked in its text, else the whole text.

    A node's answer field often holds the bare answer ("Paris") rather than a worked solution, so
    unlike a model's output the text itself counts when no "Answer:" marker or number is found.

    Example:
        >>> answer_in_value("Paris"), answer_in_value("So 3 + 4 = 7. Answer: 7"), answer_in_value(None)
        ('Paris', '7', None)
    """
    if value is None:
        return None
    text = output_text(value)
    return extract_answer(text) or text.strip() or None


def sampled_node(
    node: Node,
    *,
    n: int = 8,
    answer_key: str = "answer",
    adaptive: bool | AdaptiveStop = False,
    wave_size: int | None = None,
    same: AnswerMatcher = same_answer,
    extract: AnswerExtractor | None = None,
    result_key: str | None = "ttc_result",
) -> Node:
    """Wrap ``node`` so that it runs up to ``n`` times in parallel and returns the majority's update.

    The runs share the node's input state and its injected ``config``, ``runtime``, ``writer`` and
    ``store``, run in parallel up to the config's ``max_concurrency``, and are charged to a child of
    the runtime context's budget (``TTCContext``) or of the caller's ``budget_scope``. A run that
    raises is kept as a failed candidate; when the budget refuses a run, sampling stops and the runs
    already made vote (``stop_reason="budget"``). The winner is the first update whose answer is
    the majority's (ties go to the earliest run).

    Args:
        node: a node function, sync or async, returning a dict update that has ``answer_key``.
        n: the most runs.
        answer_key: the key of the update whose value is voted on.
        adaptive: stop once the vote is settled (``True``, or an AdaptiveStop rule).
        wave_size: runs per wave after the first when ``adaptive`` (default 2).
        same: answer equivalence for counting votes.
        extract: ``value -> answer`` for the ``answer_key`` value; by default the answer marked in its
            text, else the text itself.
        result_key: the key the run's :class:`~ttc_plugins.TTCResult` is added under. LangGraph drops
            update keys the state schema does not have, so declare it in the state (as
            ``TTCResultField`` to checkpoint it faithfully) to keep it; None leaves it out.

    Returns:
        A node function (async if ``node`` is) for ``builder.add_node(name, ...)``.

    Raises:
        TypeError: ``node`` is not callable (a Runnable node: wrap its ``invoke`` in a function).
        ValueError: a bad ``n`` or ``wave_size``.
        AllCandidatesFailed: every run raised or gave no ``answer_key`` (when the node runs).
        BudgetExceeded: the budget could not pay for even one run (when the node runs).
    """
    if not callable(node):
        raise TypeError(f"node must be a node function, got {type(node).__name__}")
    rule = AdaptiveStop() if adaptive is True else (adaptive or None)
    SamplingPlan(n, wave_size=wave_size, adaptive=rule, same=same)  # bad options fail here, not at the first run
    injected = _injected_arguments(node)
    read_answer = extract or answer_in_value
    node_name = getattr(node, "__name__", type(node).__name__)
    budget_name = f"sampled_{node_name}"
    is_async = inspect.iscoroutinefunction(node) or inspect.iscoroutinefunction(type(node).__call__)

    def answer_of(update: Any) -> str | None:
        if not isinstance(update, Mapping) or answer_key not in update:
            raise KeyError(f"the node's update has no {answer_key!r}")
        return read_answer(update[answer_key])

    def arguments(config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        available = {"config": config, "runtime": runtime, "writer": runtime.stream_writer, "store": runtime.store}
        return {name: available[name] for name in injected}

    def one_run(runtime: Runtime[Any]) -> RunnableLambda:
        # RunnableLambda hands each run its own child config (callbacks, the budget handler, tags).
        if is_async:

            async def arun_node(state: Any, config: RunnableConfig) -> Any:
                return await node(state, **arguments(config, runtime))

            return RunnableLambda(arun_node, name=node_name)

        def run_node(state: Any, config: RunnableConfig) -> Any:
            return node(state, **arguments(config, runtime))

        return RunnableLambda(run_node, name=node_name)

    def winning_update(result: TTCResult, spend: Any) -> dict[str, Any]:
        result.spend = spend
        update = dict(result.output)
        if result_key is not None:
            update[result_key] = result
        return update

    def core(state: Any) -> Any:
        return self_consistency_loop(state, n=n, adaptive=rule, wave_size=wave_size, same=same, extract=answer_of)

    def bindings(runtime: Runtime[Any]) -> dict[str, Binding]:
        # Each run of the node is given the state and metered in a budget of its own.
        return {"generate": Binding(one_run(runtime), sampled=True)}

    def options(runtime: Runtime[Any]) -> dict[str, Any]:
        # Progress to the graph's custom stream; an interrupt inside a run pauses the graph, as a node's would.
        return {"family": budget_name, "report": runtime.stream_writer, "passes": (GraphBubbleUp,)}

    def sampled(state: Any, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        with strategy_run_budget(runtime.context, budget_name) as run_budget:
            result = run_steps(core(state), bindings(runtime), config, ProviderN(False), **options(runtime))
        return winning_update(result, run_budget.spent)

    async def asampled(state: Any, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        with strategy_run_budget(runtime.context, budget_name) as run_budget:
            result = await arun_steps(core(state), bindings(runtime), config, ProviderN(False), **options(runtime))
        return winning_update(result, run_budget.spent)

    wrapper = asampled if is_async else sampled
    # Not functools.wraps: LangGraph would follow __wrapped__ to the node's signature and stop injecting
    # the config and runtime this wrapper needs.
    wrapper.__name__ = wrapper.__qualname__ = node_name
    wrapper.__doc__ = node.__doc__
    return wrapper
