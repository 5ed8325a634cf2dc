"""Run any verifier over candidates as LangChain work: in parallel, traced, and charged as "verifier".

A verifier may be a LangChain Runnable taking ``{"question": ..., "candidate": ...}`` (such as
:func:`~ttc_plugins.langchain.llm_judge`) or a plain function ``(question, candidate) -> Verdict |
float | bool``, sync or async (such as :func:`~ttc_plugins.verifiers.programmatic`). Each candidate's
verdict is validated: garbage, an exception or a budget refusal fails that candidate's verification
(kept in the result, marked), never the run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ttc_plugins.budget import budget_role
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import apply_verdict

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


def question_text(input: Any) -> str:
    """The question a verifier is shown for a strategy input: the text itself, a ``question`` field,
    the last user message, or the input as text.

    Example:
        >>> question_text({"question": "What is 2 + 2?", "style": "terse"})
        'What is 2 + 2?'
    """
    if isinstance(input, str):
        return input
    if isinstance(input, Mapping):
        for key in ("question", "input", "query", "problem", "prompt"):
            if isinstance(input.get(key), str):
                return input[key]
        return "\n".join(f"{key}: {value}" for key, value in input.items())
    if hasattr(input, "to_messages"):
        input = input.to_messages()
    if isinstance(input, list) and input:
        last = input[-1]
        content = last[1] if isinstance(last, tuple) and len(last) == 2 else getattr(last, "content", last)
        return content if isinstance(content, str) else str(content)
    return str(input)


def as_verifier_runnable(verifier: Any) -> Runnable[dict[str, Any], Any]:
    """A Runnable over ``{"question", "candidate"}`` for any verifier (a Runnable is returned as is)."""
    if isinstance(verifier, Runnable):
        return verifier
    if not callable(verifier):
        raise TypeError(f"a verifier must be a Runnable or a callable (question, candidate) -> score, got {verifier!r}")
    name = getattr(verifier, "__name__", "verifier")
    if inspect.iscoroutinefunction(verifier):

        async def acall(pair: dict[str, Any]) -> Any:
            return await verifier(pair["question"], pair["candidate"])

        def call_blocking(pair: dict[str, Any]) -> Any:
            # Sync strategies run verification in worker threads, which have no event loop of their own.
            return asyncio.run(verifier(pair["question"], pair["candidate"]))

        return RunnableLambda(call_blocking, afunc=acall, name=name)

    def call(pair: dict[str, Any]) -> Any:
        return verifier(pair["question"], pair["candidate"])

    return RunnableLambda(call, name=name)


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
