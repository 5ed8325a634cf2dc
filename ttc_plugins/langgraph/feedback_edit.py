"""Dedicated feedback and edit models as a LangGraph graph: each stage fanned out with ``Send``, then judged.

Contract: reads ``state[input_key]``; drafts ``drafts`` responses, asks the feedback model ``feedbacks``
times per draft, has the edit model rewrite each draft ``edits`` times per feedback, and judges every
draft and edit, under the caller's budget; writes the best-judged version's output to
``state[output_key]``, every version to ``candidates`` and the ``result``.

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> graph = create_feedback_edit_graph(
    ...     lambda question: "A haiku about rain",
    ...     feedback_model=lambda d: "Make it about snow.",
    ...     edit_model=lambda d: "A haiku about snow",
    ...     judge=programmatic(lambda q, text: "snow" in text, on="output"),
    ...     drafts=1, feedbacks=1, edits=1,
    ... )
    >>> out = graph.invoke({"question": "Write a haiku about winter."})
    >>> out["answer"], [c.score for c in out["candidates"]]
    ('A haiku about snow', [0.0, 1.0])
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
from ttc_plugins.prompts import EDITOR_USER, FEEDBACK_USER
from ttc_plugins.results import Candidate, TTCEvent
from ttc_plugins.strategies.candidates import (
    AnswerExtractor,
    apply_verdict,
    make_candidates,
    output_text,
    scored_result,
)
from ttc_plugins.strategies.options import check_feedback_edit_widths
from ttc_plugins.verifiers import question_text

__all__ = ["create_feedback_edit_graph"]

# Per-run keys, plain data only. STAGE is the stage that ran last; FEEDBACK holds one record per
# feedback asked ({"draft", "slot", "feedback", "error", "refused"}); JUDGED the judged versions.
STAGE, FEEDBACK, JUDGED = "ttc_stage", "ttc_feedback", "ttc_judged"
_RESERVED_KEYS = frozenset({"candidates", "result", RUN_ID, STAGE, FEEDBACK, JUDGED})


def _schemas(input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: Any, "candidates": CandidateListField, "result": TTCResultField}
    run = {
        RUN_ID: str,
        STAGE: str | None,
        FEEDBACK: Annotated[list[dict[str, Any]], operator.add],
        JUDGED: CandidateListField,
    }
    return (
        TypedDict("FeedbackEditState", {**inputs, **outputs, **run}, total=False),
        TypedDict("FeedbackEditInput", inputs, total=False),
        TypedDict("FeedbackEditOutput", outputs, total=False),
    )


def create_feedback_edit_graph(
    drafter: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    feedback_model: Any,
    edit_model: Any,
    judge: Any,
    drafts: int = 2,
    feedbacks: int = 2,
    edits: int = 2,
    question: Callable[[Any], str] = question_text,
    extract: AnswerExtractor | None = None,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "feedback_edit",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build draft → feedback → edit → judge as a graph: ``start → plan ⇄ {draft, feedback, edit, judge} → select``.

    ``plan`` runs after each stage and picks the next one; the stage fans out one ``Send`` branch per
    call (``drafts``; ``feedbacks`` per usable draft; ``edits`` per feedback; one judgement per usable
    version), in parallel up to the config's ``max_concurrency``. When the budget refuses a draft or a
    feedback, the later stages are skipped and what exists is judged (``stop_reason="budget"``);
    ``select`` returns the best-judged version, so a bad edit can never beat its own draft. Versions,
    indices, events and stop reasons are those of :func:`ttc_plugins.langchain.feedback_edit`.

    Every call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or of the caller's ``budget_scope``, by role: "drafter",
    "feedback", "editor", "judge"; the child's spend is ``result.spend``. Progress goes to
    ``stream_mode="custom"``: ``{"event": "draft", "index", "error"}``, ``{"event": "feedback",
    "draft", "feedback", "error"}``, ``{"event": "edit", "index", "draft", "error"}`` and
    ``{"event": "judged", "index", "score", "error"}`` per branch, then ``{"event": "select",
    "chosen", "score", "stop_reason"}``.

    Args:
        drafter: produces a response from ``state[input_key]``: a chat model, any Runnable, or a
            function; sample it with temperature > 0 so the drafts differ.
        feedback_model: a chat model (given the feedback prompt), or a Runnable or function over
            ``{"question", "draft"}`` returning feedback text.
        edit_model: a chat model (given the edit prompt and the drafter's output parser), or a
            Runnable or function over ``{"question", "draft", "feedback"}`` returning the rewrite.
        judge: any verifier: ``llm_judge(model)``, ``programmatic(check)``, a function or a Runnable.
        drafts / feedbacks / edits: the width of each stage (``drafts * (1 + feedbacks * edits)``
            versions are judged).
        question: ``input -> question text`` for the feedback, edit and judge prompts.
        extract: ``output -> answer`` for each version's ``answer``.
        input_key: the state key holding what ``drafter`` is called with.
        output_key: the state key the best version's output is written to.
        name: the compiled graph's name, also the name of the run's child budget.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` (every judged version)
        and ``result`` (a :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node``.

    Raises:
        ValueError: a width is not a positive integer, widths making more than 1,000 versions, a bad
            key name, or no feedback or edit model (when the graph is built); no input (when it runs).
        AllCandidatesFailed: no version could be drafted and judged (when the graph runs).
    """
    check_feedback_edit_widths(drafts, feedbacks, edits)
    check_io_keys(input_key, output_key, reserved=_RESERVED_KEYS)
    drafting = as_generator(drafter)
    strategy = "create_feedback_edit_graph"
    feedback_step = role_runnable(feedback_model, role="feedback_model", template=FEEDBACK_USER, strategy=strategy)
    edit_step = role_runnable(
        edit_model, role="edit_model", template=EDITOR_USER, strategy=strategy, parser=output_parser_of(drafting)
    )
    judge_step = as_verifier_runnable(judge)
    run_budgets = RunBudgets(name)

    def drafts_of(state: dict[str, Any]) -> list[Candidate]:
        return [c for c in state["candidates"] if c.index < drafts]

    def feedback_records(state: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(state[FEEDBACK], key=lambda record: (record["draft"], record["slot"]))

    def feedback_asks(state: dict[str, Any]) -> list[tuple[Candidate, int]]:
        return [(draft, slot) for draft in drafts_of(state) if draft.ok for slot in range(feedbacks)]

    def edit_tasks(state: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        # Edit indices follow the drafts, in (draft, feedback) order: as the LangChain shell numbers them.
        usable = [record for record in feedback_records(state) if record["error"] is None]
        return list(enumerate((record for record in usable for _ in range(edits)), start=drafts))

    def refused(state: dict[str, Any]) -> bool:
        return any(d.budget_refused for d in drafts_of(state)) or any(r["refused"] for r in state[FEEDBACK])

    def start(state: dict[str, Any], runtime: Runtime[TTCContext]) -> dict[str, Any]:
        if input_key not in state:
            raise ValueError(f"{name}: the state has no {input_key!r} to draft a response for")
        run_id = uuid4().hex
        run_budgets.open(run_id, budget_for_run(runtime.context))
        # Overwrite bypasses the reducers: a thread reused with a checkpointer keeps the previous
        # run's state, whose versions and feedback must not pile up into this run's.
        return {
            RUN_ID: run_id, STAGE: None, "candidates": Overwrite([]), FEEDBACK: Overwrite([]), JUDGED: Overwrite([]),
            "result": None, output_key: None,
        }  # fmt: skip

    def plan(state: dict[str, Any]) -> dict[str, Any]:
        # A stage refused by the budget ends the tree there: what exists is judged, as in the LangChain shell.
        match state[STAGE]:
            case None:
                return {STAGE: "draft"}
            case "draft" if feedback_asks(state) and not refused(state):
                return {STAGE: "feedback"}
            case "feedback" if edit_tasks(state) and not refused(state):
                return {STAGE: "edit"}
            case "judge":
                return {STAGE: "select"}
        return {STAGE: "judge" if any(c.ok for c in state["candidates"]) else "select"}

    def draft_branches(state: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"index": index, "payload": state[input_key]} for index in range(drafts)]

    def feedback_branches(state: dict[str, Any]) -> list[dict[str, Any]]:
        asked = question(state[input_key])
        return [
            {"draft": draft.index, "slot": slot, "payload": {"question": asked, "draft": output_text(draft.output)}}
            for draft, slot in feedback_asks(state)
        ]

    def edit_branches(state: dict[str, Any]) -> list[dict[str, Any]]:
        asked, texts = question(state[input_key]), {c.index: output_text(c.output) for c in drafts_of(state)}
        return [
            {
                "index": index,
                "draft": record["draft"],
                "payload": {"question": asked, "draft": texts[record["draft"]], "feedback": record["feedback"]},
            }
            for index, record in edit_tasks(state)
        ]

    def judge_branches(state: dict[str, Any]) -> list[dict[str, Any]]:
        asked = question(state[input_key])
        return [
            {"version": candidate_data(c), "payload": {"question": asked, "candidate": c.output}}
            for c in state["candidates"]
            if c.ok
        ]

    branches = {"draft": draft_branches, "feedback": feedback_branches, "edit": edit_branches, "judge": judge_branches}

    def fan_out(state: dict[str, Any]) -> list[Send] | str:
        """One branch per call of the stage ``plan`` picked, or on to ``select``."""
        stage = state[STAGE]
        if stage not in branches:
            return "select"
        return [Send(stage, {RUN_ID: state[RUN_ID], **branch}) for branch in branches[stage](state)]

    def drafted(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        draft = make_candidates([reply], start=task["index"], extract=extract)[0]
        get_stream_writer()({"event": "draft", "index": draft.index, "error": draft.error})
        return {"candidates": [candidate_data(draft)]}

    def fed_back(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        failed = isinstance(reply, BaseException)
        record = {
            "draft": task["draft"], "slot": task["slot"], "feedback": None if failed else output_text(reply),
            "error": repr(reply) if failed else None, "refused": isinstance(reply, BudgetExceeded),
        }  # fmt: skip
        event = {
            "event": "feedback",
            "draft": record["draft"],
            "feedback": record["feedback"],
            "error": record["error"],
        }
        get_stream_writer()(event)
        return {FEEDBACK: [record]}

    def edited(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        version = make_candidates([reply], start=task["index"], extract=extract)[0]
        event = {"event": "edit", "index": version.index, "draft": task["draft"], "error": version.error}
        get_stream_writer()(event)
        return {"candidates": [candidate_data(version)]}

    def judged(task: dict[str, Any], reply: Any) -> dict[str, Any]:
        version = apply_verdict(candidate_from_data(task["version"]), reply)
        event = {"event": "judged", "index": version.index, "score": version.score, "error": version.error}
        get_stream_writer()(event)
        return {JUDGED: [candidate_data(version)]}

    def explained(state: dict[str, Any]) -> list[TTCEvent]:
        """The run's events, in the LangChain shell's order: drafts, feedback per draft, then edits."""
        events = [TTCEvent(kind="draft", data={"index": c.index}) for c in drafts_of(state)]
        for record in feedback_records(state):
            if record["error"] is None:
                events.append(
                    TTCEvent(kind="feedback", data={"draft": record["draft"], "feedback": record["feedback"]})
                )
            else:
                events.append(
                    TTCEvent(kind="feedback_failed", data={"draft": record["draft"], "error": record["error"]})
                )
        made = {c.index for c in state["candidates"]}
        events += [
            TTCEvent(kind="edit", data={"index": index, "draft": record["draft"], "feedback": record["feedback"]})
            for index, record in edit_tasks(state)
            if index in made
        ]
        return events

    def select(state: dict[str, Any]) -> dict[str, Any]:
        budget = run_budgets.close(state[RUN_ID])  # closed first: selecting may raise
        judgements = {c.index: c for c in state[JUDGED]}
        versions = [judgements.get(c.index, c) for c in state["candidates"]]
        stop = "budget" if refused(state) or any(c.budget_refused for c in versions) else "done"
        result = scored_result(versions, stop_reason=stop, events=explained(state))
        result.spend = budget.spent if budget is not None else None
        chosen = result.chosen_candidate
        event = {"event": "select", "chosen": result.chosen, "score": chosen.score, "stop_reason": result.stop_reason}
        get_stream_writer()(event)
        judged_versions = [candidate_data(c) for c in result.candidates]
        return {output_key: result.output, "candidates": Overwrite(judged_versions), "result": result_data(result)}

    def call(step: Runnable[Any, Any]) -> Callable[[dict[str, Any]], tuple[Runnable[Any, Any], Any]]:
        return lambda task: (step, task["payload"])  # every branch gets its call's payload in its Send

    state_schema, input_schema, output_schema = _schemas(input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("start", start)
    builder.add_node("plan", plan)
    builder.add_node(
        "draft", charged_call_node(run_budgets, "draft", role="drafter", plan=call(drafting), done=drafted)
    )
    builder.add_node(
        "feedback", charged_call_node(run_budgets, "feedback", role="feedback", plan=call(feedback_step), done=fed_back)
    )
    builder.add_node("edit", charged_call_node(run_budgets, "edit", role="editor", plan=call(edit_step), done=edited))
    builder.add_node("judge", charged_call_node(run_budgets, "judge", role="judge", plan=call(judge_step), done=judged))
    builder.add_node("select", select)
    builder.add_edge(START, "start")
    builder.add_edge("start", "plan")
    builder.add_conditional_edges("plan", fan_out, ["draft", "feedback", "edit", "judge", "select"])
    for stage in ("draft", "feedback", "edit", "judge"):
        builder.add_edge(stage, "plan")
    builder.add_edge("select", END)
    return builder.compile(checkpointer=checkpointer, name=name)
