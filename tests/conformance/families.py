"""What every family's conformance cases share: the case, DSPy's scripted predictor, LangChain fakes.

A family's module (``<family>_cases.py``) gives its ``CASES`` (the script: replies by target, and the
family's options) and its ``BUILDERS``: ``BUILDERS[family][driver](script, options)`` returns
``run(question) -> TTCResult`` for the reference (``drive``), LangChain, LangGraph and DSPy;
``registry.py`` lists the modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy
from langchain_core.runnables import RunnableLambda

from tests.conformance.script import Script
from ttc_plugins import TTCResult

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


DRIVERS = ("langchain", "langgraph", "dspy")
