"""Judge one candidate inside a graph node: any verifier, charged as "verifier", failures kept on the candidate.

The verifier protocol is the LangChain shell's: a Runnable taking ``{"question": ..., "candidate": ...}``
(such as ``llm_judge(model)``) or a plain function ``(question, candidate) -> Verdict | float | bool``,
sync or async (such as :func:`~ttc_plugins.verifiers.programmatic`), turned into a Runnable by the
shared ``ttc_plugins._runnables.as_verifier_runnable``. The reply goes through
:func:`~ttc_plugins.strategies.candidates.apply_verdict`, as in every shell: garbage, an exception or
a budget refusal fails that candidate, never the run. What is graph-specific: an interrupt raised by
the verifier (a human judge) is passed through as control flow.

Example:
    >>> from ttc_plugins import Candidate
    >>> from ttc_plugins._runnables import as_verifier_runnable
    >>> judge = as_verifier_runnable(lambda question, candidate: candidate.endswith("4"))
    >>> verify_candidate(judge, "2 + 2?", Candidate(index=0, output="Answer: 4"), {}).score
    1.0
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.errors import GraphBubbleUp

from ttc_plugins.budget import budget_role
from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import apply_verdict

__all__ = ["averify_candidate", "verify_candidate"]

VERIFIER_ROLE = "verifier"


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
