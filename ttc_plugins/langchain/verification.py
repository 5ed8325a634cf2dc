"""Run any verifier over candidates as LangChain work: in parallel, traced, and charged as "verifier".

A verifier may be a LangChain Runnable taking ``{"question": ..., "candidate": ...}`` (such as
:func:`~ttc_plugins.langchain.llm_judge`) or a plain function ``(question, candidate) -> Verdict |
float | bool``, sync or async (such as :func:`~ttc_plugins.verifiers.programmatic`). Each candidate's
verdict is validated: garbage, an exception or a budget refusal fails that candidate's verification
(kept in the result, marked), never the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from ttc_plugins._runnables import as_verifier_runnable
from ttc_plugins.budget import budget_role
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import apply_verdict
from ttc_plugins.verifiers import question_text

__all__ = [
    "QuestionFormatter",
    "as_verifier_runnable",
    "averify_candidates",
    "judged_candidate",
    "question_text",
    "verify_candidates",
]

QuestionFormatter = Callable[[Any], str]
"""Turns a strategy's input into the question text a verifier is shown."""


def judged_candidate(candidate: Candidate, reply: Any, *, step: str = "verification") -> Candidate:
    """Apply a verifier's reply to a candidate (see :func:`ttc_plugins.strategies.candidates.apply_verdict`)."""
    return apply_verdict(candidate, reply, step=step)


def _pending(candidates: list[Candidate], question: str) -> tuple[list[int], list[dict[str, Any]]]:
    positions = [i for i, c in enumerate(candidates) if c.ok and c.verdict is None]
    return positions, [{"question": question, "candidate": candidates[i].output} for i in positions]


def verify_candidates(
    verifier: Runnable[dict[str, Any], Any], question: str, candidates: list[Candidate], config: RunnableConfig
) -> list[Candidate]:
    """Verify every candidate that has output and no verdict yet, in parallel under ``config``."""
    positions, pairs = _pending(candidates, question)
    if not pairs:
        return candidates
    with budget_role("verifier"):
        replies = verifier.batch(pairs, config, return_exceptions=True)
    judged = list(candidates)
    for position, reply in zip(positions, replies, strict=True):
        judged[position] = judged_candidate(candidates[position], reply)
    return judged


async def averify_candidates(
    verifier: Runnable[dict[str, Any], Any], question: str, candidates: list[Candidate], config: RunnableConfig
) -> list[Candidate]:
    """The async twin of :func:`verify_candidates`."""
    positions, pairs = _pending(candidates, question)
    if not pairs:
        return candidates
    with budget_role("verifier"):
        replies = await verifier.abatch(pairs, config, return_exceptions=True)
    judged = list(candidates)
    for position, reply in zip(positions, replies, strict=True):
        judged[position] = judged_candidate(candidates[position], reply)
    return judged
