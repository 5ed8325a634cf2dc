"""Dedicated feedback and edit models as a LangGraph graph: each stage fanned out with ``Send``, then judged.

Contract: reads ``state[input_key]``; drafts, gets feedback on each draft, edits with each feedback and
judges every version, under the caller's budget; writes the best-judged version's output to
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

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from ttc_plugins._runnables import Binding, as_verifier_runnable, output_parser_of, role_runnable, texts_of
from ttc_plugins.langgraph._generator import as_generator
from ttc_plugins.langgraph._step_graph import step_graph
from ttc_plugins.prompts import EDITOR_USER, FEEDBACK_USER
from ttc_plugins.strategies import feedback_edit as core
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.options import check_feedback_edit_widths
from ttc_plugins.strategies.steps import FamilyLoop
from ttc_plugins.verifiers import question_text

__all__ = ["create_feedback_edit_graph"]


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
    """Build feedback + edit: ``start → step ⇄ drafter | feedback | editor | judge`` (a ``Send`` per call).

    Stages, stops and the choice are :func:`~ttc_plugins.strategies.feedback_edit.feedback_edit_loop`'s;
    a stage's calls run in parallel up to the config's ``max_concurrency``. Calls are charged by role
    to a child of the budget in the runtime context (``context=TTCContext(budget=...)``) or of the
    caller's ``budget_scope``; ``result.spend`` is the whole run's. Progress goes to
    ``stream_mode="custom"``: each event (``draft``, ``feedback``, ``edit``) as ``{"event": kind, **data}``
    when it happens, ``call_done`` per call, then ``finish``.

    Args:
        drafter: produces a response from ``state[input_key]``: a chat model, any Runnable, or a
            function; sample it with temperature > 0 so the drafts differ.
        feedback_model / edit_model: a chat model (given the role's prompt; the edit model also the
            drafter's output parser), or a Runnable or function over the payload dict.
        judge: any verifier: ``llm_judge(model)``, ``programmatic(check)``, a function or a Runnable.
        drafts / feedbacks / edits: the width of each stage (``drafts * (1 + feedbacks * edits)`` versions).
        question: ``input -> question text``; extract: ``output -> answer``.
        input_key / output_key: the state keys read, and written with the best version's output.
        name: the graph's name, also its calls' budgets'; checkpointer: as for ``StateGraph.compile``.

    Raises:
        ValueError: a bad width, key name or role model (when built); no input, or ``drafts`` above
            the budget's ``max_calls`` (when it runs, before any call).
        AllCandidatesFailed: no version could be drafted and judged (when the graph runs).
    """
    check_feedback_edit_widths(drafts, feedbacks, edits)
    drafting = as_generator(drafter)
    strategy = "create_feedback_edit_graph"
    feedback_step = role_runnable(feedback_model, role="feedback_model", template=FEEDBACK_USER, strategy=strategy)
    edit_step = role_runnable(
        edit_model, role="edit_model", template=EDITOR_USER, strategy=strategy, parser=output_parser_of(drafting)
    )
    bindings = {
        "draft": Binding(drafting),
        "feedback": Binding(feedback_step, render=texts_of("draft"), read=output_text),
        "edit": Binding(edit_step, render=texts_of("draft")),
        "score": Binding(as_verifier_runnable(judge)),
    }

    def make_loop(user_input: Any) -> FamilyLoop:
        return core.feedback_edit_loop(user_input, question=question(user_input), drafts=drafts,
                                       feedbacks=feedbacks, edits=edits, extract=extract)  # fmt: skip

    return step_graph(
        make_loop, bindings, roles=core.ROLES, input_key=input_key, output_key=output_key, name=name,
        checkpointer=checkpointer, title="FeedbackEdit",
    )  # fmt: skip
