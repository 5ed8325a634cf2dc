"""Feedback + edit's scripted cases and how each driver builds it over the same script (see ``families.py``).

Targets: ``draft``, ``feedback``, ``edit``, ``score``; every driver runs a stage's calls one at a time,
so a stage's replies go to its calls in order. Replies carry "Answer: N" so every shell extracts the
same answer from a version.
"""

from __future__ import annotations

from typing import Any

from tests.conformance.script import (
    ONE_AT_A_TIME,
    REFUSED,
    Case,
    Runner,
    Script,
    ScriptedPredictor,
    scripted_runnable,
    scripted_scorer,
)
from ttc_plugins.strategies.steps import drive


def _roles(script: Script) -> dict[str, Any]:
    """The feedback model, edit model and judge of the LangChain and LangGraph shells, from the script."""
    return {
        "feedback_model": scripted_runnable(script, "feedback"),
        "edit_model": scripted_runnable(script, "edit"),
        "judge": scripted_scorer(script),
    }


def _drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.feedback_edit import feedback_edit_loop

    def run(question: str) -> Any:
        return drive(feedback_edit_loop(question, question=question, **options), lambda call: script.reply(call.target))

    return run


def _langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import feedback_edit

    strategy = feedback_edit(scripted_runnable(script, "draft"), **_roles(script), **options)
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_feedback_edit_graph

    graph = create_feedback_edit_graph(scripted_runnable(script, "draft"), **_roles(script), **options)
    return lambda question: graph.invoke({"question": question}, ONE_AT_A_TIME)["result"]


def _dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import FeedbackEdit

    def judge(inputs: Any, prediction: Any) -> Any:
        return script.reply("score")

    module = FeedbackEdit("question -> answer", judge=judge, num_threads=1, **options)
    module.draft = ScriptedPredictor(script, "draft", "answer")
    module.feedback = ScriptedPredictor(script, "feedback", "feedback")
    module.edit = ScriptedPredictor(script, "edit", "answer")
    return lambda question: module(question=question).ttc_result


ONE_EACH = {"drafts": 1, "feedbacks": 1, "edits": 1}

CASES = [
    Case("feedback_edit", "two-drafts", {
        "draft": ["Answer: 1", "Answer: 2"], "feedback": ["f1", "f2"], "edit": ["Answer: 3", "Answer: 4"],
        "score": [0.2, 0.4, 0.9, 0.3],
    }, {"drafts": 2, "feedbacks": 1, "edits": 1}),
    Case("feedback_edit", "feedback-fails", {
        "draft": ["Answer: 1"], "feedback": [TimeoutError("feedback timed out"), "f2"], "edit": ["Answer: 3"],
        "score": [0.5, 0.7],
    }, {"drafts": 1, "feedbacks": 2, "edits": 1}),
    Case("feedback_edit", "edit-fails", {
        "draft": ["Answer: 1"], "feedback": ["f1"], "edit": [TimeoutError("editor timed out"), "Answer: 3"],
        "score": [0.5, 0.7],
    }, {"drafts": 1, "feedbacks": 1, "edits": 2}),
    Case("feedback_edit", "refused-mid-run", {
        "draft": ["Answer: 1", "Answer: 2"], "feedback": ["f1", REFUSED], "score": [0.3, 0.6],
    }, {"drafts": 2, "feedbacks": 1, "edits": 1}),
    Case("feedback_edit", "garbage-verdict", {
        "draft": ["Answer: 1"], "feedback": ["f1"], "edit": ["Answer: 3"], "score": ["great!", 0.5],
    }, ONE_EACH),
]  # fmt: skip

BUILDERS = {
    "feedback_edit": {"drive": _drive, "langchain": _langchain, "langgraph": _langgraph, "dspy": _dspy},
}
