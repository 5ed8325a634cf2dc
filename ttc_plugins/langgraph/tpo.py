"""Test-time preference optimisation (TPO) as a LangGraph graph: scored rounds linked by textual gradients.

Contract: reads ``state[input_key]``; samples ``samples`` responses and scores them, then for up to
``rounds`` rounds turns the best (chosen) and worst (rejected) response so far into a textual loss and
gradient and rewrites ``samples`` new responses from the chosen one, under the caller's budget; writes
the best-scored response's output to ``state[output_key]``, every response to ``candidates`` and the
``result`` (whose ``round_best`` events are the per-round best scores).

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> drafts = iter(["short", "a bit longer", "the longest answer of all", "the longest answer of all"])
    >>> graph = create_tpo_graph(
    ...     lambda question: next(drafts),
    ...     scorer=programmatic(lambda q, text: min(len(text) / 30, 1.0), on="output"),
    ...     samples=2, rounds=1,
    ...     loss=lambda d: "longer is better", gradient=lambda d: "write more", update=lambda d: next(drafts),
    ... )
    >>> out = graph.invoke({"question": "Describe the sea."}, {"max_concurrency": 1})
    >>> out["answer"], [e.data["best_score"] for e in out["result"].events if e.kind == "round_best"]
    ('the longest answer of all', [0.4, 0.8333333333333334])
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any
from uuid import uuid4

from langchain_core.runnables import Runnable
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Overwrite, Send
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins._runnables import as_verifier_runnable, output_parser_of, role_runnable
from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.langgraph._run_budgets import RUN_ID, RunBudgets, charged_call_node
from ttc_plugins.langgraph._sampling_graph import as_generator
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.langgraph.state_fields import (
    CandidateListField,
    TTCResultField,
    candidate_data,
    candidate_from_data,
    check_io_keys,
    result_data,
)
from ttc_plugins.prompts import TPO_GRADIENT_USER, TPO_LOSS_USER, TPO_UPDATE_USER
from ttc_plugins.results import Candidate, TTCEvent
from ttc_plugins.strategies.candidates import (
    AnswerExtractor,
    apply_verdict,
    make_candidates,
    output_text,
    scored_result,
)
from ttc_plugins.strategies.options import check_count, check_sample_count, check_samples_fit
from ttc_plugins.strategies.refine import preference_pair
from ttc_plugins.verifiers import question_text

__all__ = ["create_tpo_graph"]

# Per-run keys, plain data only. ROUND is the explicit counter of the round in progress (0: the first
# sampling), FIRST the index of its first response, FRESH its responses before scoring; PAIR holds the
# indices of the chosen and rejected responses it learns from; EVENTS the result's events as plain dicts.
ROUND, FIRST, FRESH, PAIR = "ttc_round", "ttc_round_first", "ttc_fresh", "ttc_pair"
LOSS, GRADIENT, STOP_REASON, EVENTS = "ttc_loss", "ttc_gradient", "ttc_stop_reason", "ttc_events"
_RESERVED_KEYS = frozenset(
    {"candidates", "result", RUN_ID, ROUND, FIRST, FRESH, PAIR, LOSS, GRADIENT, STOP_REASON, EVENTS}
)


def _event(kind: str, **data: Any) -> dict[str, Any]:
    """A result event as plain data, also sent to the custom stream as ``{"event": kind, **data}``."""
    get_stream_writer()({"event": kind, **data})
    return {"kind": kind, "data": data}


def _round_best(round_number: int, fresh: list[Candidate]) -> dict[str, Any]:
    scores = [c.score for c in fresh if c.ok and c.score is not None]
    return _event("round_best", round=round_number, best_score=max(scores) if scores else None)


def _schemas(input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: Any, "candidates": CandidateListField, "result": TTCResultField}
    run = {
        RUN_ID: str,
        ROUND: int,
        FIRST: int,
        FRESH: CandidateListField,
        PAIR: dict[str, int] | None,
        LOSS: str | None,
        GRADIENT: str | None,
        STOP_REASON: str,
        EVENTS: Annotated[list[dict[str, Any]], operator.add],
    }
    return (
        TypedDict("TPOState", {**inputs, **outputs, **run}, total=False),
        TypedDict("TPOInput", inputs, total=False),
        TypedDict("TPOOutput", outputs, total=False),
    )


def create_tpo_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    scorer: Any,
    samples: int = 4,
    rounds: int = 2,
    loss: Any = None,
    gradient: Any = None,
    update: Any = None,
    question: Callable[[Any], str] = question_text,
    extract: AnswerExtractor | None = None,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "tpo",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build TPO: ``start → sample (Send × samples) → collect → score (Send) → close_round ⇄ loss → gradient``.

    Each round fans out one ``sample`` branch per response (the first round from ``generate``, later
    ones from ``update``) and one ``score`` branch per usable response; ``close_round`` records the
    round's best score and, while the round counter in the state is below ``rounds``, picks the
    chosen and rejected responses over all rounds so far for ``loss`` and ``gradient``, which start
    the next round. The run stops early when all scored responses are equally good
    (``"converged"``), when the budget refuses a call (``"budget"``), or when the loss or gradient
    step fails (``"error"``); ``finish`` returns the best-scored response over all rounds. Responses,
    scores, events and stop reasons are those of :func:`ttc_plugins.langchain.tpo`.

    Every call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or of the caller's ``budget_scope``, by role: "generator"
    (samples and rewrites), "verifier" (scorer), "critic" (loss and gradient); the child's spend is
    ``result.spend``. Progress goes to ``stream_mode="custom"``: ``{"event": "sample_done", "round",
    "index", "error"}`` and ``{"event": "scored", "index", "score", "error"}`` per branch, each event
    of ``result.events`` as ``{"event": kind, **data}`` (``round_best`` once per round), then
    ``{"event": "finish", "chosen", "score", "stop_reason"}``.

    Args:
        generate: produces the first round's responses from ``state[input_key]``: a chat model, any
            Runnable or a function (temperature > 0 so they differ).
        scorer: any verifier (``llm_judge(model)`` as the paper's reward model, ``programmatic``, ...).
        samples: responses per round.
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        loss / gradient / update: the three textual steps; each a chat model (given its prompt), a
            Runnable or a function over its payload dict; by default ``generate``'s own chat model
            (the update step reuses ``generate``'s output parser, so responses keep its type).
        question: ``input -> question text`` for the prompts.
        extract: ``output -> answer`` for each response's ``answer``.
        input_key: the state key holding what ``generate`` is called with.
        output_key: the state key the best response's output is written to.
        name: the compiled graph's name, also the name of the run's child budget.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` (every response) and
        ``result`` (a :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node``.

    Raises:
        ValueError: ``samples`` below 2, negative ``rounds``, a bad key name, or no chat model to
            default a textual step to (when the graph is built); no input (when it runs).
        AllCandidatesFailed: no response could be generated and scored (when the graph runs).
    """
    check_sample_count(samples, name="samples", minimum=2)  # a chosen and a rejected response
    check_count(rounds, name="rounds", minimum=0)
    check_io_keys(input_key, output_key, reserved=_RESERVED_KEYS)
    generator = as_generator(generate)
    steps = {"strategy": "create_tpo_graph", "fallback": generator}
    loss_step = role_runnable(loss, role="loss", template=TPO_LOSS_USER, **steps)
    gradient_step = role_runnable(gradient, role="gradient", template=TPO_GRADIENT_USER, **steps)
    update_step = role_runnable(
        update, role="update", template=TPO_UPDATE_USER, parser=output_parser_of(generator), **steps
    )
    scorer_step = as_verifier_runnable(scorer)
    run_budgets = RunBudgets(name)

    def pool_of(state: dict[str, Any]) -> dict[int, Candidate]:
        return {c.index: c for c in state["candidates"]}

    def start(state: dict[str, Any], runtime: Runtime[TTCContext]) -> dict[str, Any]:
        if input_key not in state:
            raise ValueError(f"{name}: the state has no {input_key!r} to answer")
        budget = budget_for_run(runtime.context)
        check_samples_fit(samples, budget, name="samples")  # before the first call: each round draws them all
        run_id = uuid4().hex
        run_budgets.open(run_id, budget)
        # Overwrite bypasses the reducers: a thread reused with a checkpointer keeps the previous
        # run's state, whose responses and events must not pile up into this run's.
        return {
            RUN_ID: run_id, ROUND: 0, FIRST: 0, FRESH: Overwrite([]), PAIR: None, LOSS: None, GRADIENT: None,
            STOP_REASON: "done", EVENTS: Overwrite([]), "candidates": Overwrite([]), "result": None, output_key: None,
        }  # fmt: skip

    def sample_round(state: dict[str, Any]) -> list[Send]:
        """One ``sample`` branch per response of the round: from the input first, then rewrites."""
        if state[ROUND] == 0:
            payload = state[input_key]
        else:
            chosen = pool_of(state)[state[PAIR]["chosen"]]
            payload = {
                "question": question(state[input_key]),
                "chosen": output_text(chosen.output),
                "gradient": state[GRADIENT],
            }
        branch = {RUN_ID: state[RUN_ID], "round": state[ROUND], "payload": payload}
        return [Send("sample", {**branch, "index": state[FIRST] + offset}) for offset in range(samples)]

    def sampled(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        response = make_candidates([reply], start=task["index"], extract=extract)[0]
        event = {"event": "sample_done", "round": task["round"], "index": response.index, "error": response.error}
        get_stream_writer()(event)
        return {FRESH: [candidate_data(response)]}

    def collect(state: dict[str, Any]) -> dict[str, Any]:
        # A failed response joins the pool as it is; the usable ones join once scored.
        return {"candidates": [candidate_data(c) for c in state[FRESH] if not c.ok]}

    def score_round(state: dict[str, Any]) -> list[Send] | str:
        """One ``score`` branch per usable response of the round, or on to ``close_round``."""
        asked, run = question(state[input_key]), {RUN_ID: state[RUN_ID]}
        branches = [
            {**run, "response": candidate_data(c), "payload": {"question": asked, "candidate": c.output}}
            for c in state[FRESH]
            if c.ok
        ]
        return [Send("score", branch) for branch in branches] or "close_round"

    def scored(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        response = apply_verdict(candidate_from_data(task["response"]), reply, step="scoring")
        event = {"event": "scored", "index": response.index, "score": response.score, "error": response.error}
        get_stream_writer()(event)
        return {"candidates": [candidate_data(response)]}

    def close_round(state: dict[str, Any]) -> dict[str, Any]:
        """Record the round's best score, then pick what the next round learns from, or stop."""
        round_number, pool = state[ROUND], pool_of(state)
        fresh = [c for index, c in sorted(pool.items()) if index >= state[FIRST]]
        events, stop = [_round_best(round_number, fresh)], state[STOP_REASON]
        if any(c.budget_refused for c in fresh):
            stop = "budget"
        if round_number >= rounds or stop == "budget":
            return {EVENTS: events, STOP_REASON: stop, PAIR: None}
        pair = preference_pair(list(pool.values()))
        if pair is None:  # nothing to learn from: every scored response is equally good
            events.append(_event("no_preference", round=round_number + 1))
            return {EVENTS: events, STOP_REASON: "converged", PAIR: None}
        chosen, rejected = pair
        pair_indices = {"chosen": chosen.index, "rejected": rejected.index}
        return {EVENTS: events, STOP_REASON: stop, PAIR: pair_indices, ROUND: round_number + 1}

    def failed_step(state: dict[str, Any], step: str, error: BaseException) -> dict[str, Any]:
        stop = "budget" if isinstance(error, BudgetExceeded) else "error"
        event = _event(f"{step}_failed", round=state[ROUND], error=repr(error))
        return {EVENTS: [event], STOP_REASON: stop}

    def loss_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        pool = pool_of(state)
        chosen, rejected = pool[state[PAIR]["chosen"]], pool[state[PAIR]["rejected"]]
        return loss_step, {
            "question": question(state[input_key]),
            "chosen": output_text(chosen.output),
            "rejected": output_text(rejected.output),
            "chosen_score": chosen.score,
            "rejected_score": rejected.score,
        }

    def lost(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, BaseException):
            return {**failed_step(state, "loss", reply), LOSS: None}
        return {LOSS: output_text(reply)}

    def gradient_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return gradient_step, {"question": question(state[input_key]), "loss": state[LOSS]}

    def descended(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, BaseException):
            return {**failed_step(state, "gradient", reply), GRADIENT: None}
        text, pair = output_text(reply), state[PAIR]
        event = _event(
            "textual_gradient", round=state[ROUND], chosen=pair["chosen"], rejected=pair["rejected"],
            loss=state[LOSS], gradient=text,
        )  # fmt: skip
        # The round's rewrites are numbered on from the previous round's responses; none is drawn yet.
        return {EVENTS: [event], GRADIENT: text, FIRST: state[FIRST] + samples, FRESH: Overwrite([])}

    def finish(state: dict[str, Any]) -> dict[str, Any]:
        budget = run_budgets.close(state[RUN_ID])  # closed first: selecting may raise
        events = [TTCEvent.model_validate(event) for event in state[EVENTS]]
        result = scored_result(state["candidates"], stop_reason=state[STOP_REASON], events=events)
        result.spend = budget.spent if budget is not None else None
        chosen = result.chosen_candidate
        event = {"event": "finish", "chosen": result.chosen, "score": chosen.score, "stop_reason": result.stop_reason}
        get_stream_writer()(event)
        return {output_key: result.output, "result": result_data(result)}

    def sample_call(task: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return (generator if task["round"] == 0 else update_step), task["payload"]

    def score_call(task: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return scorer_step, task["payload"]

    def after_close(state: dict[str, Any]) -> str:
        return "loss" if state[PAIR] is not None else "finish"

    def after_loss(state: dict[str, Any]) -> str:
        return "gradient" if state[LOSS] is not None else "finish"

    def after_gradient(state: dict[str, Any]) -> list[Send] | str:
        return sample_round(state) if state[GRADIENT] is not None else "finish"

    state_schema, input_schema, output_schema = _schemas(input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("start", start)
    builder.add_node(
        "sample", charged_call_node(run_budgets, "sample", role="generator", plan=sample_call, done=sampled)
    )
    builder.add_node("collect", collect)
    builder.add_node("score", charged_call_node(run_budgets, "score", role="verifier", plan=score_call, done=scored))
    builder.add_node("close_round", close_round)
    builder.add_node("loss", charged_call_node(run_budgets, "loss", role="critic", plan=loss_call, done=lost))
    builder.add_node(
        "gradient", charged_call_node(run_budgets, "gradient", role="critic", plan=gradient_call, done=descended)
    )
    builder.add_node("finish", finish)
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", sample_round, ["sample"])
    builder.add_edge("sample", "collect")
    builder.add_conditional_edges("collect", score_round, ["score", "close_round"])
    builder.add_edge("score", "close_round")
    builder.add_conditional_edges("close_round", after_close, ["loss", "finish"])
    builder.add_conditional_edges("loss", after_loss, ["gradient", "finish"])
    builder.add_conditional_edges("gradient", after_gradient, ["sample", "finish"])
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name=name)
