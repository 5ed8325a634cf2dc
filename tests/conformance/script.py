"""Scripted replies by call target, the same for every driver, and the view of a result they must agree on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ttc_plugins import BudgetExceeded, TTCResult
from ttc_plugins.strategies.candidates import output_text

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
