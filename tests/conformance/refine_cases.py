"""Refine's scripted cases and how each driver builds it over the same script (see ``families.py``).

Targets: ``draft``, ``score``, ``critique``, ``edit`` (the human ``review`` is LangGraph's alone).
Replies carry "Answer: N" so every shell extracts the same answer from a version.
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
from ttc_plugins.prompts import critic_is_satisfied
from ttc_plugins.strategies.steps import drive


def _roles(script: Script) -> dict[str, Any]:
    """The critic, editor and scorer of the LangChain and LangGraph shells, answered from the script."""
    return {
        "critic": scripted_runnable(script, "critique"),
        "editor": scripted_runnable(script, "edit"),
        "scorer": scripted_scorer(script),
    }


def _drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.refine import RefineRules, refine_loop

    def run(question: str) -> Any:
        loop = refine_loop(question, question=question, rules=RefineRules(**options), satisfied=critic_is_satisfied)
        return drive(loop, lambda call: script.reply(call.target))

    return run


def _langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import refine

    strategy = refine(scripted_runnable(script, "draft"), **_roles(script), **options)
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_refine_graph

    graph = create_refine_graph(scripted_runnable(script, "draft"), **_roles(script), **options)
    return lambda question: graph.invoke({"question": question}, ONE_AT_A_TIME)["result"]


def _dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import Refine

    module = Refine("question -> answer", scorer=lambda inputs, prediction: script.reply("score"), **options)
    module.draft = ScriptedPredictor(script, "draft", "answer")
    module.critic = ScriptedPredictor(script, "critique", "feedback")
    module.edit = ScriptedPredictor(script, "edit", "answer")
    return lambda question: module(question=question).ttc_result


CASES = [
    Case("refine", "accepted-then-rejected-edit", {
        "draft": ["3 + 4 = 8. Answer: 8"], "score": [0.2, 0.9, 0.3], "critique": ["Add again.", "Check it."],
        "edit": ["3 + 4 = 7. Answer: 7", "3 + 4 = 6. Answer: 6"],
    }, {"max_rounds": 2, "patience": None}),
    Case("refine", "critic-satisfied", {
        "draft": ["Answer: 8"], "score": [0.0, 1.0], "critique": ["It is 7.", "NO ISSUES"], "edit": ["Answer: 7"],
    }),
    Case("refine", "threshold", {"draft": ["Answer: 7"], "score": [0.9]}, {"threshold": 0.8}),
    Case("refine", "critique-fails", {
        "draft": ["Answer: 8"], "score": [0.5], "critique": [TimeoutError("critic timed out")],
    }, {"patience": 1}),
    Case("refine", "edit-fails", {
        "draft": ["Answer: 8"], "score": [0.5, 0.9], "critique": ["Fix it.", "Fix it again."],
        "edit": [TimeoutError("editor timed out"), "Answer: 7"],
    }, {"max_rounds": 2, "patience": None}),
    Case("refine", "refused-mid-run", {
        "draft": ["Answer: 8"], "score": [0.2, 0.9], "critique": ["It is 7.", REFUSED], "edit": ["Answer: 7"],
    }),
    Case("refine", "garbage-verdict", {
        "draft": ["Answer: 8"], "score": ["great!", 0.9], "critique": ["It is 7.", "NO ISSUES"], "edit": ["Answer: 7"],
    }),
]  # fmt: skip

BUILDERS = {"refine": {"drive": _drive, "langchain": _langchain, "langgraph": _langgraph, "dspy": _dspy}}
