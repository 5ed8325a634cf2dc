"""One graph that runs any strategy family's core: ``start → step ⇄ <role nodes> (Send per call)``.

A family's decisions are a generator of steps (:mod:`ttc_plugins.strategies.steps`). A graph node
cannot hold a generator open across steps, checkpoints and processes, so the graph keeps the
replies instead: its state holds the input and a log of every reply as plain data
(:mod:`ttc_plugins.langgraph._reply_log`), and the ``step`` node replays the core over the log to
reach the next step. That step's calls fan out with ``Send``, one branch per call, to a node named
after the step's role (``generator``, ``verifier``, ``critic``, ``editor``, ``human``, ...), so
Studio shows a readable graph, ``interrupt()`` in a role node pauses the run, and a run resumed from
its checkpointer — in this process or another — goes on where it was.

Each call is metered in a child budget of its own under the run's budget (the runtime context's,
else the caller's ``budget_scope``), and its spend is logged beside its reply: the run's spend is
the sum of its calls', so it survives a resume in another process as well. Progress goes to
``stream_mode="custom"``: the family's events as ``{"event": kind, **data}`` as they happen, a
``call_done`` per call, then ``finish``.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.constants import CONFIG_KEY_CHECKPOINTER  # kept public for compatibility until langgraph 2
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Checkpointer, Overwrite, Send
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins._runnables import Binding
from ttc_plugins._spend import Spend, combined_spend
from ttc_plugins.budget import Budget, BudgetExceeded, budget_role, budget_scope
from ttc_plugins.langgraph._reply_log import decode_reply, encode_reply
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.langgraph.state_fields import CandidateListField, TTCResultField, check_io_keys, result_data
from ttc_plugins.results import TTCEvent, TTCResult
from ttc_plugins.strategies.candidates import MeteredOutput, stops_the_run
from ttc_plugins.strategies.progress import call_done, finished, progress_of
from ttc_plugins.strategies.steps import FamilyLoop, Step

__all__ = ["LOG", "PENDING", "step_graph"]

# Per-run keys, plain data only. LOG is every reply so far with its call's spend; PENDING the step
# whose calls are out; STARTED the run's wall-clock start (a resumed run may be in another process).
LOG, PENDING, STARTED = "ttc_log", "ttc_pending", "ttc_started"
_RESERVED_KEYS = frozenset({"candidates", "result", LOG, PENDING, STARTED})


def _schemas(title: str, input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: Any, "candidates": CandidateListField, "result": TTCResultField}
    run = {LOG: Annotated[list[dict[str, Any]], operator.add], PENDING: dict[str, Any] | None, STARTED: float}
    return (
        TypedDict(f"{title}State", {**inputs, **outputs, **run}, total=False),
        TypedDict(f"{title}Input", inputs, total=False),
        TypedDict(f"{title}Output", outputs, total=False),
    )


def _replay(loop: FamilyLoop, log: Sequence[Mapping[str, Any]]) -> tuple[Step | None, TTCResult | None, int, int]:
    """Run the core over the logged replies: ``(next step, None)`` or ``(None, result)``, the step's
    number and how many progress events the steps before it carried (already reported live)."""
    by_step: dict[int, dict[int, Mapping[str, Any]]] = {}
    for record in log:
        by_step.setdefault(record["step"], {})[record["call"]] = record
    number, reported, replies = 0, 0, None
    try:
        while True:
            step = loop.send(replies)  # type: ignore[arg-type]  # the first send must be None
            if number not in by_step:
                return step, None, number, reported
            reported += len(step.progress)
            records = by_step[number]
            if sorted(records) != list(range(len(step.calls))) or any(
                records[i]["target"] != call.target for i, call in enumerate(step.calls)
            ):
                raise RuntimeError(
                    f"step {number} of the logged run does not match the strategy's: was the graph changed "
                    "between a checkpoint and its resume?"
                )
            replies = [decode_reply(records[i]["reply"]) for i in range(len(step.calls))]
            number += 1
    except StopIteration as done:
        return None, done.value, number, reported


def _run_spend(log: Sequence[Mapping[str, Any]]) -> Spend:
    if not log:
        return Spend()
    seconds = max(r["ended"] for r in log) - min(r["started"] for r in log)
    return combined_spend([Spend.model_validate(r["spend"]) for r in log], seconds=seconds)


def _report(event: TTCEvent) -> None:
    get_stream_writer()(progress_of(event))


def step_graph(
    make_loop: Callable[[Any], FamilyLoop],
    bindings: Mapping[str, Binding],
    *,
    roles: Sequence[str],
    input_key: str,
    output_key: str,
    name: str,
    checkpointer: Checkpointer = None,
    pauses: bool = False,
    title: str = "Strategy",
    writes: Callable[[TTCResult], Any] | None = None,
) -> CompiledStateGraph:
    """Compile the graph that runs ``make_loop(state[input_key])`` (see the module docstring).

    Args:
        make_loop: the family's core for one run's input.
        bindings: the Runnable (and rendering) that answers each of the core's call targets.
        roles: the roles the core's steps are charged to; each is a node.
        input_key / output_key: the state keys read and written (the chosen output).
        name: the compiled graph's name, also the name of its calls' budgets.
        checkpointer: as for ``StateGraph.compile``; None inside a parent graph inherits its own.
        pauses: whether a role node may ``interrupt()``; then a run without a checkpointer is refused
            before its first call (LangGraph would pause and then refuse the resume).
        title: the prefix of the state schemas' names.
        writes: what ``output_key`` gets from the result (its chosen output by default).
    """
    check_io_keys(input_key, output_key, reserved=_RESERVED_KEYS)
    if pauses and checkpointer is False:
        raise ValueError(f"{name} pauses for a human, which needs a checkpointer; checkpointer=False has none")

    def start(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if input_key not in state:
            raise ValueError(f"{name}: the state has no {input_key!r} to answer")
        if pauses and config.get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER) is None:
            raise ValueError(
                f"{name} pauses for a human and resumes from a checkpoint, but this run has no checkpointer: "
                "compile with checkpointer=InMemorySaver() (or add the graph to a parent that has one) and "
                "invoke with {'configurable': {'thread_id': ...}}"
            )
        # Overwrite bypasses the reducers: a thread reused with a checkpointer keeps the previous
        # run's state, whose replies and candidates must not leak into this run's.
        return {LOG: Overwrite([]), PENDING: None, STARTED: time.time(), "candidates": Overwrite([]),
                "result": None, output_key: None}  # fmt: skip

    def step(state: dict[str, Any], runtime: Runtime[TTCContext]) -> dict[str, Any]:
        parent = budget_for_run(runtime.context)
        log = state.get(LOG) or []
        # The core makes no calls here, but it reads the run's budget: for checks that depend on the
        # limits, and to tell the run's refusals from those of a budget made inside a call.
        with budget_scope(parent.child(name=name) if parent is not None else Budget(name=name)):
            upcoming, result, number, reported = _replay(make_loop(state[input_key]), log)
        if upcoming is not None:
            for event in upcoming.progress:
                _report(event)
            calls = [{"target": call.target, "payload": call.payload} for call in upcoming.calls]
            return {PENDING: {"step": number, "role": upcoming.role, "calls": calls}}
        assert result is not None
        for event in result.events[reported:]:
            _report(event)
        result.spend = _run_spend(log)
        get_stream_writer()(finished(result))
        data = result_data(result)
        written = writes(result) if writes is not None else result.output
        return {PENDING: None, output_key: written, "candidates": Overwrite(data["candidates"]), "result": data}

    def fan_out(state: dict[str, Any]) -> list[Send] | str:
        pending = state.get(PENDING)
        if pending is None:
            return END
        if pending["role"] not in roles:
            raise RuntimeError(f"{name}: a step is charged to {pending['role']!r}, which has no node")
        return [
            Send(pending["role"], {"step": pending["step"], "call": position, **call})
            for position, call in enumerate(pending["calls"])
        ]

    state_schema, input_schema, output_schema = _schemas(title, input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("start", start)
    builder.add_node("step", step)
    builder.add_edge(START, "start")
    builder.add_edge("start", "step")
    builder.add_conditional_edges("step", fan_out, [*roles, END])
    for role in roles:
        builder.add_node(role, _role_node(role, bindings, name))
        builder.add_edge(role, "step")
    return builder.compile(checkpointer=checkpointer, name=name)


def _role_node(role: str, bindings: Mapping[str, Binding], name: str) -> RunnableLambda:
    """The node that makes one call of a step charged to ``role``, in a budget of its own, and logs it."""

    def ledger() -> Budget:
        parent = budget_for_run(get_runtime().context)
        return parent.child(name=name) if parent is not None else Budget(name=name)

    def traced(task: dict[str, Any], config: RunnableConfig) -> RunnableConfig:
        # What the call was for, in its runs' metadata (as the LangChain driver tags its calls).
        what = {"ttc_family": name, "ttc_role": role, "ttc_target": task["target"], "ttc_step": task["step"],
                "ttc_call": task["call"]}  # fmt: skip
        return {**config, "metadata": {**config.get("metadata", {}), **what}}

    def logged(task: dict[str, Any], budget: Budget, reply: Any, started: float) -> dict[str, Any]:
        # Judged in the call's own budget: a refusal from it or above is the run's; one from a budget
        # made inside the call (a tool's own cap) fails this call only.
        with budget_scope(budget):
            stops = isinstance(reply, BudgetExceeded) and stops_the_run(reply)
        failed = isinstance(reply, BaseException)
        if bindings[task["target"]].sampled and not failed:  # a sample carries its own call's tokens
            reply = MeteredOutput(reply, budget.spent.input_tokens, budget.spent.output_tokens)
        event = call_done(role=role, target=task["target"], step=task["step"], call=task["call"], reply=reply)
        get_stream_writer()(event)
        record = {"step": task["step"], "call": task["call"], "target": task["target"],
                  "reply": encode_reply(reply, stops_run=stops), "spend": budget.spent.model_dump(),
                  "started": started, "ended": time.time()}  # fmt: skip
        return {LOG: [record]}

    def call(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        binding, budget, started = bindings[task["target"]], ledger(), time.time()
        payload, config = binding.input(task["payload"]), traced(task, config)
        with budget_scope(budget), budget_role(role):
            try:
                reply = binding.reply(binding.runnable.invoke(payload, config))
            except GraphBubbleUp:  # an interrupt or a parent command is control flow, not a failed call
                raise
            except Exception as error:  # the family's core decides what a failed call means
                reply = error
        return logged(task, budget, reply, started)

    async def acall(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        binding, budget, started = bindings[task["target"]], ledger(), time.time()
        payload, config = binding.input(task["payload"]), traced(task, config)
        with budget_scope(budget), budget_role(role):
            try:
                reply = binding.reply(await binding.runnable.ainvoke(payload, config))
            except GraphBubbleUp:
                raise
            except Exception as error:
                reply = error
        return logged(task, budget, reply, started)

    return RunnableLambda(call, afunc=acall, name=role)
