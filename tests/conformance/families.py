"""Each family's scripted cases and how each driver builds it over the same script.

A case gives the script (replies by target) and the family's options; ``build[driver](script, options)``
returns a callable ``run(question) -> TTCResult`` for the reference (``drive``), LangChain, LangGraph
and DSPy. Adding a family: its cases and its four builders here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy
from langchain_core.runnables import RunnableLambda

from tests.conformance.script import REFUSED, Script
from ttc_plugins import TTCResult
from ttc_plugins.strategies.steps import drive

ONE_AT_A_TIME = {"max_concurrency": 1}
Runner = Callable[[str], TTCResult]


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    replies: dict[str, list[Any]]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.family}-{self.name}"


class ScriptedPredictor(dspy.Module):
    """A DSPy stand-in for one predictor: each call returns the next scripted reply in ``field_name``."""

    def __init__(self, script: Script, target: str, field_name: str) -> None:
        super().__init__()
        self.script, self.target, self.field_name = script, target, field_name

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return dspy.Prediction(**{self.field_name: self.script.reply(self.target)})

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return self.forward(**inputs)


def lc_target(script: Script, target: str) -> RunnableLambda:
    return RunnableLambda(lambda payload: script.reply(target), name=target)


def scorer(script: Script) -> Callable[[Any, Any], Any]:
    return lambda question, candidate: script.reply("score")


# ----------------------------------------------------------------------------------------------- TPO


def _tpo_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.tpo import tpo_loop

    return lambda question: drive(tpo_loop(question, question=question, **options), lambda c: script.reply(c.target))


def _tpo_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import tpo

    strategy = tpo(
        lc_target(script, "generate"), scorer=scorer(script), loss=lc_target(script, "loss"),
        gradient=lc_target(script, "gradient"), update=lc_target(script, "update"), **options,
    )  # fmt: skip
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _tpo_langgraph(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langgraph import create_tpo_graph

    graph = create_tpo_graph(
        lc_target(script, "generate"), scorer=scorer(script), loss=lc_target(script, "loss"),
        gradient=lc_target(script, "gradient"), update=lc_target(script, "update"), **options,
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


TPO_CASES = [
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

BUILDERS: dict[str, dict[str, Callable[[Script, dict[str, Any]], Runner]]] = {
    "tpo": {"drive": _tpo_drive, "langchain": _tpo_langchain, "langgraph": _tpo_langgraph, "dspy": _tpo_dspy},
}


def _registered() -> None:
    # Each family's cases live in a module of their own, which imports the helpers above.
    from tests.conformance import sampling_cases

    for module in (sampling_cases,):
        CASES.extend(module.CASES)
        BUILDERS.update(module.BUILDERS)


CASES = [*TPO_CASES]
_registered()
DRIVERS = ("langchain", "langgraph", "dspy")
