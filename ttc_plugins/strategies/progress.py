"""The progress a run reports as it goes, in one shape for every framework's channel.

LangGraph's custom stream and LangChain's custom events carry the same dicts: each of the family's
events as it happens (``{"event": kind, **data}``), a ``call_done`` per call the driver made, and a
``finish`` at the end.

Example:
    >>> from ttc_plugins.results import TTCEvent
    >>> progress_of(TTCEvent(kind="round_best", data={"round": 1, "best_score": 0.9}))
    {'event': 'round_best', 'round': 1, 'best_score': 0.9}
    >>> call_done(role="verifier", target="score", step=1, call=0, reply=ValueError("no score"))["error"]
    'ValueError: no score'
"""

from __future__ import annotations

from typing import Any

from ttc_plugins.results import TTCEvent, TTCResult

__all__ = ["call_done", "finished", "progress_of"]


def progress_of(event: TTCEvent) -> dict[str, Any]:
    """A family's event as progress."""
    return {"event": event.kind, **event.data}


def call_done(*, role: str, target: str, step: int, call: int, reply: Any) -> dict[str, Any]:
    """One call finished: which, and its failure if it raised (a reply the core rejects is not a failure)."""
    error = f"{type(reply).__name__}: {reply}" if isinstance(reply, BaseException) else None
    return {"event": "call_done", "role": role, "target": target, "step": step, "call": call, "error": error}


def finished(result: TTCResult) -> dict[str, Any]:
    """The run's end: the chosen candidate, its score and the stop reason."""
    chosen = result.chosen_candidate
    score = chosen.score if chosen is not None else None
    return {"event": "finish", "chosen": result.chosen, "score": score, "stop_reason": result.stop_reason}
