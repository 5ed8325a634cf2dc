"""Scripted replies by call target, the same for every driver, the stand-ins that give them, and the
view of a result the drivers must agree on.

The stand-ins live here, not in ``families.py``, because each family's cases module uses them and
``families.py`` imports those modules: here they import without a cycle.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dspy
from langchain_core.runnables import RunnableLambda

from ttc_plugins import BudgetExceeded, TTCResult
from ttc_plugins.strategies.candidates import output_text

ONE_AT_A_TIME = {"max_concurrency": 1}
Runner = Callable[[str], TTCResult]

# Raised by a fake as the run's own budget would refuse a call (no budget attached: it is the run's).
REFUSED = BudgetExceeded("max_calls=4 would be exceeded", limit="max_calls", maximum=4, used=4, requested=1)


class Script:
    """Answers each call target with its next scripted reply; an exception in the script is raised.

    Drivers run one call at a time in these tests (``max_concurrency=1``, ``num_threads=1``), so the
    order of replies within a target is the order of the calls.
    """

    def __init__(self, replies: Mapping[str, Iterable[Any]]) -> None:
        self._replies = {target: iter(items) for target, items in replies.items()}
        self.targets = frozenset(replies)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def reply(self, target: str) -> Any:
        with self._lock:
            self.calls[target] += 1
            reply = next(self._replies[target])
        if isinstance(reply, BaseException):
            raise reply
        return reply


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    replies: dict[str, list[Any]]
    options: dict[str, Any] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()  # view keys a family's shells build their own way

    @property
    def id(self) -> str:
        return f"{self.family}-{self.name}"


class ScriptedPredictor(dspy.Module):
    """A DSPy stand-in for one predictor: each call returns the next scripted reply in ``field_name``."""

    def __init__(self, script: Script, target: str, field_name: str, signature: Any = None) -> None:
        super().__init__()
        self.script, self.target, self.field_name = script, target, field_name
        if signature is not None:
            self.signature = signature  # the replaced predictor's, where the shell reads its fields

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return dspy.Prediction(**{self.field_name: self.script.reply(self.target)})

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return self.forward(**inputs)


def scripted_runnable(script: Script, target: str) -> RunnableLambda:
    """A LangChain stand-in that answers with the next scripted reply for ``target``."""
    return RunnableLambda(lambda payload: script.reply(target), name=target)


def scripted_scorer(script: Script) -> Callable[[Any, Any], Any]:
    """A verifier ``(question, candidate) -> the next scripted "score" reply``."""
    return lambda question, candidate: script.reply("score")


def view(result: TTCResult) -> dict[str, Any]:
    """What every driver must agree on: the output's text, the candidates' decisions, the stop, the events.

    Outputs are compared as text: a DSPy prediction and a LangChain string carry the same reply.
    """
    candidates = [
        {
            "index": c.index,
            "text": None if c.output is None else output_text(c.output),
            "answer": c.answer,
            "score": c.score,
            "error": c.error,
            "budget_refused": c.budget_refused,
            "votes": c.votes,
            "lineage": c.lineage,
        }
        for c in result.candidates
    ]
    return {
        "output": output_text(result.output),
        "answer": result.answer,
        "chosen": result.chosen,
        "stop_reason": result.stop_reason,
        "candidates": candidates,
        "events": [event.model_dump() for event in result.events],
    }
