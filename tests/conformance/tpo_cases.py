"""TPO through every driver: the scripted cases and each driver's builder."""

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


def _tpo_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.tpo import tpo_loop

    return lambda question: drive(tpo_loop(question, question=question, **options), lambda c: script.reply(c.target))


def _tpo_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import tpo

    strategy = tpo(
        scripted_runnable(script, "generate"), scorer=scripted_scorer(script), loss=scripted_runnable(script, "loss"),
        gradient=scripted_runnable(script, "gradient"), update=scripted_runnable(script, "update"), **options,
    )  # fmt: skip
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _tpo_langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_tpo_graph

    graph = create_tpo_graph(
        scripted_runnable(script, "generate"), scorer=scripted_scorer(script), loss=scripted_runnable(script, "loss"),
        gradient=scripted_runnable(script, "gradient"), update=scripted_runnable(script, "update"), **options,
    )  # fmt: skip
    return lambda question: graph.invoke({"question": question}, ONE_AT_A_TIME)["result"]


def _tpo_dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import TPO

    module = TPO(
        "question -> answer", scorer=lambda inputs, prediction: script.reply("score"), num_threads=1, **options
    )
    module.generate = ScriptedPredictor(script, "generate", "answer")
    module.loss = ScriptedPredictor(script, "loss", "analysis")
    module.gradient = ScriptedPredictor(script, "gradient", "suggestions")
    module.update = ScriptedPredictor(script, "update", "answer")
    return lambda question: module(question=question).ttc_result


CASES = [
    Case("tpo", "two-rounds", {
        "generate": ["ok. Answer: 1", "bad. Answer: 2"], "score": [0.5, 0.1, 0.7, 0.2, 0.9, 0.3],
        "loss": ["l1", "l2"], "gradient": ["g1", "g2"],
        "update": ["good. Answer: 3", "worse. Answer: 4", "great. Answer: 5", "poor. Answer: 6"],
    }, {"samples": 2, "rounds": 2}),
    Case("tpo", "converged", {"generate": ["Answer: 1", "Answer: 1"], "score": [0.5, 0.5]},
         {"samples": 2, "rounds": 2}),
    Case("tpo", "loss-fails", {
        "generate": ["Answer: 1", "Answer: 2"], "score": [0.5, 0.1], "loss": [TimeoutError("loss timed out")],
    }, {"samples": 2, "rounds": 1}),
    Case("tpo", "refused-mid-round", {
        "generate": ["Answer: 1", "Answer: 2"], "score": [0.5, 0.1, 0.9, REFUSED], "loss": ["l"], "gradient": ["g"],
        "update": ["Answer: 3", "Answer: 4"],
    }, {"samples": 2, "rounds": 3}),
    Case("tpo", "garbage-verdict", {"generate": ["Answer: 1", "Answer: 2"], "score": ["great!", 0.1]},
         {"samples": 2, "rounds": 0}),
]  # fmt: skip

BUILDERS = {
    "tpo": {"drive": _tpo_drive, "langchain": _tpo_langchain, "langgraph": _tpo_langgraph, "dspy": _tpo_dspy},
}
