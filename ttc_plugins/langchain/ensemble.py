"""A multi-model ensemble vote: each model (or chain) answers, and the majority answer wins.

The vote and its stop rules are :func:`ttc_plugins.strategies.ensemble.ensemble_loop`'s; this binds
each member to its own call target, so the members answer side by side (up to ``max_concurrency``),
each metered in a budget of its own.

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> models = [RunnableLambda(lambda q: "Answer: 4"), RunnableLambda(lambda q: "4.0"), RunnableLambda(lambda q: "5")]
    >>> ensemble(models).invoke("What is 2 + 2?")
    'Answer: 4'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import Binding
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.ensemble import ensemble_loop, member_target
from ttc_plugins.strategies.options import check_sample_count

__all__ = ["Ensemble", "ensemble"]


class Ensemble(SteppedStrategy):
    """Asks every runnable once (in parallel) and returns the majority answer's output (build with :func:`ensemble`)."""

    runnables: list[Runnable[Any, Any]]
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    name: str | None = Field(default="ensemble")

    def _bindings(self) -> Mapping[str, Binding]:
        # Sampled: each member's call in a budget of its own, so its candidate gets its exact tokens.
        return {member_target(i): Binding(r, sampled=True) for i, r in enumerate(self.runnables)}

    def _loop(self, input: Any) -> StrategyLoop:
        members = [runnable.get_name() for runnable in self.runnables]
        return (yield from ensemble_loop(input, members=members, same=self.same, extract=self.extract))


def ensemble(
    runnables: Sequence[Runnable[Any, Any]],
    *,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    return_result: bool = False,
) -> Ensemble:
    """Ask several models (or chains) the same input once each and return the majority answer's output.

    Ties go to the model listed first; a model that raises is kept as a failed candidate and the
    others vote; one the budget refused makes the stop reason ``"budget"``. The result's events name
    each member, in order.

    Raises:
        ValueError: no runnable, more than 1,000, or (when called) more than the budget's ``max_calls``.
        AllCandidatesFailed: every model failed (with the first failure).
    """
    if not runnables:
        raise ValueError("ensemble needs at least one runnable")
    check_sample_count(len(runnables), name="len(runnables)")
    return Ensemble(runnables=list(runnables), extract=extract, same=same, return_result=return_result)
