"""Self-consistency and best-of-N through every driver: the scripted cases and each driver's builder."""

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
from ttc_plugins.strategies.select import AdaptiveStop
from ttc_plugins.strategies.steps import drive


def _sc_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.sampling import self_consistency_loop

    return lambda question: drive(self_consistency_loop(question, **options), lambda c: script.reply(c.target))


def _sc_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import self_consistency

    strategy = self_consistency(scripted_runnable(script, "generate"), **options)
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _sc_langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_self_consistency_graph

    graph = create_self_consistency_graph(scripted_runnable(script, "generate"), **options)
    return lambda question: graph.invoke({"question": question}, ONE_AT_A_TIME)["result"]


def _sc_dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import SelfConsistency

    module = SelfConsistency("question -> answer", num_threads=1, **options)
    module.generate = ScriptedPredictor(script, "generate", "answer")
    return lambda question: module(question=question).ttc_result


def _bon_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.sampling import best_of_n_loop

    return lambda question: drive(
        best_of_n_loop(question, question=question, **options), lambda c: script.reply(c.target)
    )


def _bon_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import best_of_n

    strategy = best_of_n(scripted_runnable(script, "generate"), verifier=scripted_scorer(script), **options)
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _bon_langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_best_of_n_graph

    graph = create_best_of_n_graph(scripted_runnable(script, "generate"), scripted_scorer(script), **options)
    return lambda question: graph.invoke({"question": question}, ONE_AT_A_TIME)["result"]


def _bon_dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import BestOfN

    module = BestOfN(
        "question -> answer", verifier=lambda inputs, prediction: script.reply("score"), num_threads=1, **options
    )
    module.generate = ScriptedPredictor(script, "generate", "answer")
    return lambda question: module(question=question).ttc_result


CASES = [
    Case("self_consistency", "majority", {"generate": ["Answer: 7", "Answer: 8", "so, 7", "Answer: 9"]}, {"n": 4}),
    Case("self_consistency", "adaptive", {"generate": ["Answer: 7"] * 8},
         {"n": 8, "adaptive": AdaptiveStop(min_samples=3), "wave_size": 1}),
    Case("self_consistency", "failures-and-refusal", {
        "generate": ["Answer: 7", TimeoutError("slow"), "Answer: 8", REFUSED, "Answer: 8"],
    }, {"n": 6, "adaptive": AdaptiveStop(min_samples=2), "wave_size": 2}),
    Case("best_of_n", "best", {
        "generate": ["Answer: 1", "Answer: 2", TimeoutError("slow")], "score": [0.2, 0.9],
    }, {"n": 3}),
    Case("best_of_n", "threshold", {
        "generate": ["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4"], "score": [0.2, 0.95, 0.99],
    }, {"n": 4, "threshold": 0.9, "wave_size": 1}),
    Case("best_of_n", "weighted", {
        "generate": ["Answer: 1", "Answer: 1", "Answer: 2"], "score": [0.1, 0.1, 0.9],
    }, {"n": 3, "weighted": True}),
    Case("best_of_n", "garbage-and-refused-scoring", {
        "generate": ["Answer: 1", "Answer: 2", "Answer: 3"], "score": ["great!", REFUSED, 0.4],
    }, {"n": 3}),
    Case("best_of_n", "no-scoring-affordable", {
        "generate": ["Answer: 1", "Answer: 2"], "score": [REFUSED, REFUSED],
    }, {"n": 2}),
]  # fmt: skip

BUILDERS = {
    "self_consistency": {"drive": _sc_drive, "langchain": _sc_langchain, "langgraph": _sc_langgraph, "dspy": _sc_dspy},
    "best_of_n": {"drive": _bon_drive, "langchain": _bon_langchain, "langgraph": _bon_langgraph, "dspy": _bon_dspy},
}
