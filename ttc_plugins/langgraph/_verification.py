"""Judge one candidate inside a graph node: any verifier, charged as "verifier", failures kept on the candidate.

The verifier protocol is the LangChain shell's (``ttc_plugins.langchain.verification``): a Runnable
taking ``{"question": ..., "candidate": ...}`` (such as ``llm_judge(model)``) or a plain function
``(question, candidate) -> Verdict | float | bool``, sync or async (such as
:func:`~ttc_plugins.verifiers.programmatic`). It is restated here because the adapters never import
each other (DESIGN.md). The reply goes through :func:`~ttc_plugins.strategies.candidates.apply_verdict`,
as in every shell: garbage, an exception or a budget refusal fails that candidate, never the run.

Example:
    >>> from ttc_plugins import Candidate
    >>> judge = as_verifier(lambda question, candidate: candidate.endswith("4"))
    >>> verify_candidate(judge, "2 + 2?", Candidate(index=0, output="Answer: 4"), {}).score
    1.0
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp

from ttc_plugins.budget import budget_role
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import apply_verdict

__all__ = ["as_verifier", "averify_candidate", "verifier_question", "verify_candidate"]

VERIFIER_ROLE = "verifier"


def verifier_question(value: Any) -> str:
    """The question a verifier is shown for a graph's input value: the text itself, a ``question``
    field, the last message's text, or the value as text (as in the LangChain shell).

    Example:
        >>> verifier_question({"question": "What is 2 + 2?", "style": "terse"})
        'What is 2 + 2?'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("question", "input", "query", "problem", "prompt"):
            if isinstance(value.get(key), str):
                return value[key]
        return "\n".join(f"{key}: {item}" for key, item in value.items())
    if hasattr(value, "to_messages"):  # a prompt value
        value = value.to_messages()
    if isinstance(value, list) and value:
        last = value[-1]
        content = last[1] if isinstance(last, tuple) and len(last) == 2 else getattr(last, "content", last)
        return content if isinstance(content, str) else str(content)
    return str(value)


def as_verifier(verifier: Any) -> Runnable[dict[str, Any], Any]:
    """A Runnable over ``{"question", "candidate"}`` for any verifier (a Runnable is returned as is).

    A function becomes a traced child run of the node; an async one is awaited under ``ainvoke`` and
    run to completion on its own loop under ``invoke`` (sync graphs run nodes in worker threads).
    """
    if isinstance(verifier, Runnable):
        return verifier
    if not callable(verifier):
        raise TypeError(f"a verifier must be a Runnable or a callable (question, candidate) -> score, got {verifier!r}")
    name = getattr(verifier, "__name__", "verifier")
    if inspect.iscoroutinefunction(verifier) or inspect.iscoroutinefunction(type(verifier).__call__):

        async def ajudge(pair: dict[str, Any]) -> Any:
            return await verifier(pair["question"], pair["candidate"])

        def judge_blocking(pair: dict[str, Any]) -> Any:
            return asyncio.run(verifier(pair["question"], pair["candidate"]))

        return RunnableLambda(judge_blocking, afunc=ajudge, name=name)

    def judge(pair: dict[str, Any]) -> Any:
        return verifier(pair["question"], pair["candidate"])

    return RunnableLambda(judge, name=name)


def verify_candidate(
    verifier: Runnable[dict[str, Any], Any], question: str, candidate: Candidate, config: RunnableConfig
) -> Candidate:
    """``candidate`` with the verifier's verdict and score, or marked failed (see ``apply_verdict``).

    The verifier's model calls are charged to the current budget under the role "verifier".
    """
    with budget_role(VERIFIER_ROLE):
        try:
            reply = verifier.invoke({"question": question, "candidate": candidate.output}, config)
        except GraphBubbleUp:  # an interrupt (a human judge, say) is control flow, not a failed verification
            raise
        except Exception as error:  # fails this candidate's verification only
            reply = error
    return apply_verdict(candidate, reply)


async def averify_candidate(
    verifier: Runnable[dict[str, Any], Any], question: str, candidate: Candidate, config: RunnableConfig
) -> Candidate:
    """The async twin of :func:`verify_candidate`."""
    with budget_role(VERIFIER_ROLE):
        try:
            reply = await verifier.ainvoke({"question": question, "candidate": candidate.output}, config)
        except GraphBubbleUp:
            raise
        except Exception as error:
            reply = error
    return apply_verdict(candidate, reply)
