"""Guarded self-refine as a LangGraph graph, optionally pausing for a human to review each feedback.

Contract: reads ``state[input_key]``, drafts with ``generate`` and refines in guarded rounds under the
caller's budget (an edit is kept only if not scored lower than the best so far); writes the best
version's output to ``state[output_key]``, every version to ``candidates`` and the ``result``.

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> graph = create_refine_graph(
    ...     lambda question: "3 + 4 = 8. Answer: 8",
    ...     critic=lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "3 + 4 is 7, not 8.",
    ...     editor=lambda d: "3 + 4 = 7. Answer: 7",
    ...     scorer=programmatic(lambda q, answer: answer == "7"),
    ... )
    >>> out = graph.invoke({"question": "What is 3 + 4?"})
    >>> out["answer"], [c.score for c in out["candidates"]], out["result"].stop_reason
    ('3 + 4 = 7. Answer: 7', [0.0, 1.0], 'converged')
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any
from uuid import uuid4

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.constants import CONFIG_KEY_CHECKPOINTER  # kept public for compatibility until langgraph 2
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Overwrite, interrupt
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12 for the graph's JSON schemas

from ttc_plugins._runnables import as_verifier_runnable, model_of, output_parser_of, role_runnable
from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.langgraph._run_budgets import RUN_ID, RunBudgets, charged_call_node
from ttc_plugins.langgraph._sampling_graph import as_generator
from ttc_plugins.langgraph.context import TTCContext, budget_for_run
from ttc_plugins.langgraph.state_fields import (
    CandidateListField,
    TTCResultField,
    candidate_data,
    check_io_keys,
    result_data,
)
from ttc_plugins.prompts import CRITIC_USER, EDITOR_USER, critic_is_satisfied
from ttc_plugins.results import Candidate, TTCEvent
from ttc_plugins.strategies.candidates import AnswerExtractor, apply_verdict, make_candidates, output_text
from ttc_plugins.strategies.refine import AcceptRule, RefineRules, RefineTracker
from ttc_plugins.verifiers import question_text

__all__ = ["create_refine_graph"]

# Per-run keys, plain data only so that a checkpointer can save them and a resumed run can go on.
# STEPS is the run's log of tracker operations; replaying it over the versions rebuilds the tracker,
# so every decision is made by RefineTracker itself and comes out the same after a resume.
STEPS, ROUND, BEST, STOP_RULE = "ttc_steps", "ttc_round", "ttc_best", "ttc_stop_rule"
FEEDBACK, PENDING = "ttc_feedback", "ttc_pending"
_RESERVED_KEYS = frozenset({"candidates", "result", RUN_ID, STEPS, ROUND, BEST, STOP_RULE, FEEDBACK, PENDING})

HUMAN_ANSWERS = "True or None (approve the feedback), a non-empty string (replace it) or {'stop': True}"


def _replay(tracker: RefineTracker, versions: Mapping[int, Candidate], steps: Iterable[dict[str, Any]]) -> None:
    """Apply logged steps to ``tracker``: the same calls, in the same order, as a loop would make."""
    for step in steps:
        match step["op"]:
            case "draft":
                tracker.add_draft(versions[0])
            case "round":
                tracker.start_round()
            case "critique":
                data = {"round": tracker.rounds, "critique": step["critique"]}
                tracker.events.append(TTCEvent(kind="critique", data=data))
            case "satisfied":
                tracker.critic_satisfied()
            case "human":
                data = {"round": tracker.rounds, "decision": step["decision"], "feedback": step["feedback"]}
                tracker.events.append(TTCEvent(kind="human_feedback", data=data))
            case "human_stop":  # the human plays the critic who is satisfied
                tracker.events.append(TTCEvent(kind="human_stop", data={"round": tracker.rounds}))
                tracker.critic_satisfied()
            case "edit":
                tracker.consider_edit(versions[step["index"]])
            case "budget":
                tracker.stop_for_budget()
            case op:
                raise ValueError(f"unknown refine step {op!r}")


def _human_decision(answer: Any) -> tuple[str, str | None] | None:
    """What a human's resume value asks for: approve, replace (with the text) or stop; None if unclear."""
    if answer is None or answer is True:
        return "approve", None
    if isinstance(answer, str) and answer.strip():
        return "replace", answer
    if isinstance(answer, Mapping) and answer.get("stop") is True:
        return "stop", None
    return None


def _schemas(input_key: str, output_key: str) -> tuple[type, type, type]:
    """State, input and output schemas; TypedDicts built here because the key names are options."""
    inputs = {input_key: Any}
    outputs = {output_key: Any, "candidates": CandidateListField, "result": TTCResultField}
    run = {
        RUN_ID: str,
        STEPS: Annotated[list[dict[str, Any]], operator.add],
        ROUND: int,
        BEST: int | None,
        STOP_RULE: str | None,
        FEEDBACK: str | None,
        PENDING: dict[str, Any] | None,
    }
    return (
        TypedDict("RefineState", {**inputs, **outputs, **run}, total=False),
        TypedDict("RefineInput", inputs, total=False),
        TypedDict("RefineOutput", outputs, total=False),
    )


def _default_scorer(generate: Runnable[Any, Any]) -> Runnable[Any, Any]:
    model = model_of(generate)
    if model is None:
        raise ValueError(f"create_refine_graph() cannot find a chat model in {generate.get_name()!r}; pass scorer=")
    # The one use of the LangChain adapter, imported only for this default: its LLM judge (a prompt,
    # structured output and a tolerant parse) is too much to restate, and a chat model implies langchain-core.
    from ttc_plugins._llm_judge import llm_judge

    return llm_judge(model, structured=False)


def create_refine_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    critic: Any = None,
    editor: Any = None,
    scorer: Any = None,
    max_rounds: int = 3,
    accept: AcceptRule = "not_lower",
    patience: int | None = 2,
    threshold: float | None = None,
    human_feedback: bool = False,
    question: Callable[[Any], str] = question_text,
    extract: AnswerExtractor | None = None,
    satisfied: Callable[[str], bool] = critic_is_satisfied,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "refine",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build guarded self-refine: ``start → draft → score → route ⇄ critique → [review] → edit → score``.

    ``route`` closes a round and decides, with :class:`~ttc_plugins.strategies.refine.RefineTracker`,
    whether to start another or stop, and why (threshold, patience, max_rounds; the critic satisfied
    and the budget stop the run where they happen); ``finish`` returns the best version, never a
    worse last one. The round counter is in the state, so the loop ends by itself (at most
    ``5 + 5 * max_rounds`` steps), not by the recursion limit. Versions, scores, events and stop
    rules are those of :func:`ttc_plugins.langchain.refine`.

    With ``human_feedback=True`` the graph pauses before each edit with
    ``interrupt({"question", "draft", "feedback", "round"})`` (the draft is the best version's text,
    the feedback the critic's); resume with ``Command(resume=...)``: ``True`` or ``None`` approves the
    feedback, a string replaces it, ``{"stop": True}`` ends the run (``stop_reason="converged"``, a
    ``human_stop`` event). Any other answer is asked for again, with an ``"error"`` in the payload.
    Pausing needs a checkpointer and a ``thread_id``: compile with ``checkpointer=...``, or leave it
    None inside a parent graph that has one; a run without any is refused before its first call.

    Every call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or of the caller's ``budget_scope``, by role: "generator"
    (draft), "critic", "editor", "verifier" (scorer); the child's spend is ``result.spend``. Each
    event of ``result.events`` also goes to ``stream_mode="custom"`` as ``{"event": kind, **data}``
    when it happens, then ``{"event": "refined", "chosen", "score", "stop_reason"}``.

    Args:
        generate: drafts from ``state[input_key]``: a chat model, any Runnable, or a function.
        critic: a chat model (given the critic prompt, which answers ``NO ISSUES`` when satisfied), or
            a Runnable or function ``{"question", "draft"} -> feedback``; by default ``generate``'s
            own chat model.
        editor: a chat model (given the edit prompt and ``generate``'s output parser), or a Runnable
            or function ``{"question", "draft", "feedback"} -> new version``; by default
            ``generate``'s own chat model.
        scorer: any verifier (``programmatic(check)``, ``llm_judge(model)``, a function or Runnable);
            by default an LLM judge on ``generate``'s own chat model.
        max_rounds: the most critique → edit rounds.
        accept: ``"not_lower"`` (ties pass) or ``"higher"`` (strict gain) to accept an edit.
        patience: stop after this many rounds in a row without an accepted edit (None: never).
        threshold: stop once the best score reaches this.
        human_feedback: pause before each edit for a human to approve, replace or stop.
        question: ``input -> question text`` for the critic, editor and scorer.
        extract: ``output -> answer`` for each version's ``answer``.
        satisfied: ``feedback -> bool``, whether the critic found nothing to fix.
        input_key: the state key holding what ``generate`` is called with.
        output_key: the state key the best version's output is written to.
        name: the compiled graph's name, also the name of the run's child budget.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` (every version) and
        ``result`` (a :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node``.

    Raises:
        ValueError: bad rules or key names, no chat model to default a role to, or
            ``human_feedback`` with ``checkpointer=False`` (when the graph is built); no input, or
            ``human_feedback`` without any checkpointer (when it runs).
        BudgetExceeded: the budget could not pay for the draft (when the graph runs).
    """
    rules = RefineRules(max_rounds=max_rounds, accept=accept, patience=patience, threshold=threshold)
    check_io_keys(input_key, output_key, reserved=_RESERVED_KEYS)
    if human_feedback and checkpointer is False:
        raise ValueError(
            "human_feedback=True pauses the graph, which needs a checkpointer; checkpointer=False has none"
        )
    drafter = as_generator(generate)
    roles = {"strategy": "create_refine_graph", "fallback": drafter}
    critic_step = role_runnable(critic, role="critic", template=CRITIC_USER, **roles)
    editor_step = role_runnable(editor, role="editor", template=EDITOR_USER, parser=output_parser_of(drafter), **roles)
    scorer_step = as_verifier_runnable(scorer) if scorer is not None else _default_scorer(drafter)
    run_budgets = RunBudgets(name)

    def versions_of(state: dict[str, Any], new: Iterable[Candidate] = ()) -> dict[int, Candidate]:
        return {c.index: c for c in [*state.get("candidates", ()), *new]}

    def tracked(state: dict[str, Any]) -> RefineTracker:
        tracker = RefineTracker(rules)
        _replay(tracker, versions_of(state), state.get(STEPS, ()))
        return tracker

    def advance(state: dict[str, Any], steps: list[dict[str, Any]], new: Sequence[Candidate] = ()) -> dict[str, Any]:
        """The update that logs ``steps`` (and adds ``new`` versions); streams the events they make."""
        tracker, versions = RefineTracker(rules), versions_of(state, new)
        _replay(tracker, versions, state.get(STEPS, ()))
        seen = len(tracker.events)
        _replay(tracker, versions, steps)
        writer = get_stream_writer()
        for event in tracker.events[seen:]:
            writer({"event": event.kind, **event.data})
        return {
            "candidates": [candidate_data(c) for c in new],
            STEPS: steps,
            ROUND: tracker.rounds,
            BEST: tracker.best.index if tracker.best is not None else None,
            STOP_RULE: tracker.stop_rule,
        }

    def asked(state: dict[str, Any]) -> str:
        return question(state[input_key])

    def best_text(state: dict[str, Any]) -> str:
        return output_text(versions_of(state)[state[BEST]].output)

    def failed_version(state: dict[str, Any], step: str, error: BaseException) -> dict[str, Any]:
        # A failed critique or edit costs its round (it counts against patience), not the run.
        index = len(state["candidates"])
        failed = Candidate(index=index, error=f"{step} failed: {type(error).__name__}: {error}")
        return advance(state, [{"op": "edit", "index": index}], [failed])

    def start(state: dict[str, Any], config: RunnableConfig, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        if input_key not in state:
            raise ValueError(f"{name}: the state has no {input_key!r} to refine an answer for")
        # Without a checkpointer LangGraph would still pause, and then refuse the resume with a bare
        # "Cannot use Command(resume=...) without checkpointer", after the draft and critique were paid.
        if human_feedback and config.get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER) is None:
            raise ValueError(
                f"{name}: human_feedback=True pauses for a human and resumes from a checkpoint, but this run has "
                "no checkpointer: compile with checkpointer=InMemorySaver() (or add the graph to a parent that "
                "has one) and invoke with {'configurable': {'thread_id': ...}}"
            )
        run_id = uuid4().hex
        run_budgets.open(run_id, budget_for_run(runtime.context))
        # Overwrite bypasses the reducers: a thread reused with a checkpointer keeps the previous
        # run's state, whose versions and steps must not pile up into this run's.
        return {
            RUN_ID: run_id, "candidates": Overwrite([]), STEPS: Overwrite([]), "result": None, output_key: None,
            ROUND: 0, BEST: None, STOP_RULE: None, FEEDBACK: None, PENDING: None,
        }  # fmt: skip

    def drafted(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, BaseException):
            run_budgets.close(state[RUN_ID])
            raise reply  # nothing to refine and nothing to return
        return {PENDING: {"output": reply}}

    def scored(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        index = len(state["candidates"])
        unscored = make_candidates([state[PENDING]["output"]], start=index, extract=extract)[0]
        version = apply_verdict(unscored, reply, step="scoring")
        steps = [{"op": "draft"} if index == 0 else {"op": "edit", "index": index}]
        if version.budget_refused:
            steps.append({"op": "budget"})
        return {**advance(state, steps, [version]), PENDING: None}

    def route(state: dict[str, Any]) -> dict[str, Any]:
        # Closes the round and starts the next unless a stop rule fires; a run already stopped stays so.
        return advance(state, [{"op": "round"}] if state[STOP_RULE] is None else [])

    def critiqued(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, BudgetExceeded):
            return {**advance(state, [{"op": "budget"}]), FEEDBACK: None}
        if isinstance(reply, BaseException):
            return {**failed_version(state, "critique", reply), FEEDBACK: None}
        feedback = output_text(reply)
        if satisfied(feedback):
            return {**advance(state, [{"op": "critique", "critique": feedback}, {"op": "satisfied"}]), FEEDBACK: None}
        return {**advance(state, [{"op": "critique", "critique": feedback}]), FEEDBACK: feedback}

    def review(state: dict[str, Any]) -> dict[str, Any]:
        # The node runs again from the top on resume: everything before interrupt() only reads state.
        request = {
            "question": asked(state),
            "draft": best_text(state),
            "feedback": state[FEEDBACK],
            "round": state[ROUND],
        }
        answer = interrupt(request)
        while (decision := _human_decision(answer)) is None:
            answer = interrupt({**request, "error": f"expected {HUMAN_ANSWERS}, got {answer!r}"})
        kind, replacement = decision
        if kind == "stop":
            return {**advance(state, [{"op": "human_stop"}]), FEEDBACK: None}
        feedback = replacement if replacement is not None else state[FEEDBACK]
        return {**advance(state, [{"op": "human", "decision": kind, "feedback": feedback}]), FEEDBACK: feedback}

    def edited(state: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, BudgetExceeded):
            return {**advance(state, [{"op": "budget"}]), PENDING: None}
        if isinstance(reply, BaseException):
            return {**failed_version(state, "edit", reply), PENDING: None}
        return {PENDING: {"output": reply}}

    def finish(state: dict[str, Any]) -> dict[str, Any]:
        budget = run_budgets.close(state[RUN_ID])
        result = tracked(state).result()
        result.spend = budget.spent if budget is not None else None
        score = result.chosen_candidate.score if result.chosen_candidate is not None else None
        event = {"event": "refined", "chosen": result.chosen, "score": score, "stop_reason": result.stop_reason}
        get_stream_writer()(event)
        return {output_key: result.output, "result": result_data(result)}

    def after_route(state: dict[str, Any]) -> str:
        return "critique" if state[STOP_RULE] is None else "finish"

    def after_critique(state: dict[str, Any]) -> str:
        return "route" if state[FEEDBACK] is None else ("review" if human_feedback else "edit")

    def after_review(state: dict[str, Any]) -> str:
        return "route" if state[FEEDBACK] is None else "edit"

    def after_edit(state: dict[str, Any]) -> str:
        return "route" if state[PENDING] is None else "score"

    def draft_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return drafter, state[input_key]

    def score_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return scorer_step, {"question": asked(state), "candidate": state[PENDING]["output"]}

    def critique_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return critic_step, {"question": asked(state), "draft": best_text(state)}

    def edit_call(state: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        return editor_step, {"question": asked(state), "draft": best_text(state), "feedback": state[FEEDBACK]}

    state_schema, input_schema, output_schema = _schemas(input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("start", start)
    builder.add_node("draft", charged_call_node(run_budgets, "draft", role="generator", plan=draft_call, done=drafted))
    builder.add_node("score", charged_call_node(run_budgets, "score", role="verifier", plan=score_call, done=scored))
    builder.add_node("route", route)
    builder.add_node(
        "critique", charged_call_node(run_budgets, "critique", role="critic", plan=critique_call, done=critiqued)
    )
    builder.add_node("edit", charged_call_node(run_budgets, "edit", role="editor", plan=edit_call, done=edited))
    builder.add_node("finish", finish)
    builder.add_edge(START, "start")
    builder.add_edge("start", "draft")
    builder.add_edge("draft", "score")
    builder.add_edge("score", "route")
    builder.add_conditional_edges("route", after_route, ["critique", "finish"])
    if human_feedback:
        builder.add_node("review", review)
        builder.add_conditional_edges("critique", after_critique, ["review", "route"])
        builder.add_conditional_edges("review", after_review, ["edit", "route"])
    else:
        builder.add_conditional_edges("critique", after_critique, ["edit", "route"])
    builder.add_conditional_edges("edit", after_edit, ["score", "route"])
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name=name)
