"""Prompting transforms as LangGraph nodes: chain-of-thought, chain-of-draft, step-back, analogical, budget forcing.

Contract: ``prompting_node(transform)`` reads ``state[input_key]``, invokes ``transform`` on it with the
node's config, and writes the final answer extracted from the output's text to ``state[output_key]``
(and the whole text to ``state[work_key]`` when given). ``transform`` is any Runnable that takes a
question string, such as ``ttc_plugins.langchain.chain_of_draft(llm)``; this module takes it as a
parameter instead of importing the LangChain adapter.

Example:
    >>> from typing import TypedDict
    >>> from langchain_core.runnables import RunnableLambda
    >>> from langgraph.graph import START, StateGraph
    >>> class State(TypedDict, total=False):
    ...     question: str
    ...     answer: str
    ...     work: str
    >>> drafts = RunnableLambda(lambda question: "3 + 4 = 7.\\n#### 7")
    >>> builder = StateGraph(State)
    >>> _ = builder.add_node("solve", prompting_node(drafts, work_key="work")).add_edge(START, "solve")
    >>> out = builder.compile().invoke({"question": "What is 3 + 4?"})
    >>> out["answer"], out["work"]
    ('7', '3 + 4 = 7.\\n#### 7')
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Checkpointer
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins.answers import extract_answer
from ttc_plugins.budget import budget_scope, current_budget
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.candidates import output_text

__all__ = ["create_prompting_graph", "prompting_node"]

Node = Callable[..., "dict[str, Any] | Awaitable[dict[str, Any]]"]


def _check_keys(input_key: str, output_key: str, work_key: str | None) -> None:
    keys = {"input_key": input_key, "output_key": output_key}
    if work_key is not None:
        keys["work_key"] = work_key
    for role, key in keys.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{role} must be a non-empty string, got {key!r}")
    if len(set(keys.values())) < len(keys):
        raise ValueError(f"input_key, output_key and work_key must differ, got {keys}")


@contextlib.contextmanager
def _context_budget(context: Any) -> Iterator[None]:
    """Make the runtime context's budget current, unless the current one already charges it."""
    budget, current = budget_for_run(context), current_budget()
    with contextlib.ExitStack() as stack:
        if budget is not None and (current is None or not current.is_within(budget)):
            stack.enter_context(budget_scope(budget))
        yield


def prompting_node(
    transform: Runnable[Any, Any],
    *,
    input_key: str = "question",
    output_key: str = "answer",
    work_key: str | None = None,
    extract: Callable[[str], str | None] = extract_answer,
    asynchronous: bool = False,
) -> Node:
    """Make a node that answers ``state[input_key]`` with a prompting ``transform``.

    The transform is invoked with the node's config, so callbacks, tags and the caller's
    ``budget_scope`` reach its model calls (charged to the roles the transform sets: step-back's
    "step_back" and "generator", budget forcing's "thinking" and "answer"); a budget passed as
    ``context=TTCContext(budget=...)`` is charged instead when the caller's scope is not already
    within it. Each run emits ``{"event": "answered", "answer": ...}`` to ``stream_mode="custom"``.
    The node composes with :func:`~ttc_plugins.langgraph.sampled_node` (vote on ``output_key``).

    Args:
        transform: a Runnable taking a question string, e.g. ``chain_of_thought(llm)``,
            ``chain_of_draft(llm)``, ``step_back(llm)``, ``analogical(llm)`` or ``budget_forcing(llm)``
            from :mod:`ttc_plugins.langchain`. One returning a TTCResult gives its ``answer`` directly.
        input_key: the state key holding the question.
        output_key: the state key the extracted final answer is written to (None when none is found).
        work_key: the state key the transform's whole output text is written to; None leaves it out.
        extract: ``text -> answer`` for the output text.
        asynchronous: return an async node (invoking ``transform.ainvoke``) instead of a sync one.

    Returns:
        A node function for ``builder.add_node(name, ...)``.

    Raises:
        TypeError: ``transform`` is not a Runnable.
        ValueError: an empty key, or two keys that are the same.
        KeyError: the state has no ``input_key`` (when the node runs).
    """
    if not isinstance(transform, Runnable):
        raise TypeError(f"transform must be a Runnable that takes a question, got {transform!r}")
    _check_keys(input_key, output_key, work_key)

    def update_for(output: Any, runtime: Runtime[Any]) -> dict[str, Any]:
        if isinstance(output, TTCResult):
            text, answer = output_text(output.output), output.answer
        else:
            text = output_text(output)
            answer = extract(text)
        runtime.stream_writer({"event": "answered", "answer": answer})
        update: dict[str, Any] = {output_key: answer}
        if work_key is not None:
            update[work_key] = text
        return update

    def question_in(state: Any) -> Any:
        if input_key not in state:
            raise KeyError(f"the state has no {input_key!r} for the prompting node")
        return state[input_key]

    if asynchronous:

        async def aprompted(state: Any, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
            with _context_budget(runtime.context):
                output = await transform.ainvoke(question_in(state), config)
            return update_for(output, runtime)

        node: Node = aprompted
    else:

        def prompted(state: Any, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
            with _context_budget(runtime.context):
                output = transform.invoke(question_in(state), config)
            return update_for(output, runtime)

        node = prompted
    node.__name__ = node.__qualname__ = transform.get_name()
    return node


def create_prompting_graph(
    transform: Runnable[Any, Any],
    *,
    input_key: str = "question",
    output_key: str = "answer",
    work_key: str | None = None,
    extract: Callable[[str], str | None] = extract_answer,
    name: str | None = None,
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build a compiled one-node graph ``START → transform → END`` around :func:`prompting_node`.

    Add it to a parent with ``parent.add_node(name, graph)``; from a parent, stream with
    ``subgraphs=True`` to see its ``answered`` event. The node is sync and async (``invoke`` and
    ``ainvoke``/``astream`` both work).

    Args:
        transform, input_key, output_key, work_key, extract: as for :func:`prompting_node`.
        name: the compiled graph's name (default: the transform's name).
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose input key is ``input_key`` and whose output keys are ``output_key``
        (and ``work_key``).

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> graph = create_prompting_graph(RunnableLambda(lambda q: "So 2 + 2 = 4.\\nAnswer: 4"), work_key="work")
        >>> graph.invoke({"question": "What is 2 + 2?"})
        {'answer': '4', 'work': 'So 2 + 2 = 4.\\nAnswer: 4'}
    """
    options = {"input_key": input_key, "output_key": output_key, "work_key": work_key, "extract": extract}
    sync_node = prompting_node(transform, **options)
    async_node = prompting_node(transform, **options, asynchronous=True)
    graph_name = name or transform.get_name()
    inputs = {input_key: Any}
    outputs = {output_key: str | None, **({work_key: str} if work_key is not None else {})}
    title = "".join(part.capitalize() for part in graph_name.split("_")) or "Prompting"
    builder = StateGraph(
        TypedDict(f"{title}State", {**inputs, **outputs}, total=False),
        context_schema=TTCContext,
        input_schema=TypedDict(f"{title}Input", inputs, total=False),
        output_schema=TypedDict(f"{title}Output", outputs, total=False),
    )
    builder.add_node(graph_name, _sync_and_async(sync_node, async_node, graph_name))
    builder.add_edge(START, graph_name)
    builder.add_edge(graph_name, END)
    return builder.compile(checkpointer=checkpointer, name=graph_name)


def _sync_and_async(sync_node: Node, async_node: Node, name: str) -> Runnable[Any, Any]:
    # A RunnableLambda node gets no injected runtime, so each variant asks for the current one.
    def run(state: Any, config: RunnableConfig) -> Any:
        return sync_node(state, config, get_runtime())

    async def arun(state: Any, config: RunnableConfig) -> Any:
        return await async_node(state, config, get_runtime())

    return RunnableLambda(run, afunc=arun, name=name)
