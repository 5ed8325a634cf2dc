"""A multi-model ensemble vote: every member answers once, in parallel, and the majority answer wins.

One step asks each member (``member0``, ``member1``, ... as call targets, which each shell binds to
its own model or chain); a member that fails is a failed candidate and the others vote, and one the
run's budget refused makes the stop reason ``"budget"``. Ties go to the member listed first. The
result's events name each member, in order, before the vote.

Example:
    >>> from ttc_plugins.strategies.steps import drive
    >>> answers = {"member0": "Answer: 4", "member1": "4.0", "member2": "5"}
    >>> result = drive(ensemble_loop("2 + 2?", members=["a", "b", "c"]), lambda call: answers[call.target])
    >>> result.answer, result.chosen, [c.votes for c in result.candidates]
    ('4', 0, [2, 2, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.results import TTCEvent
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, voted_result
from ttc_plugins.strategies.options import check_samples_fit
from ttc_plugins.strategies.steps import Call, FamilyLoop, Step

__all__ = ["ROLES", "ensemble_loop", "member_target"]

ROLES = ("generator",)


def member_target(position: int) -> str:
    """The call target of the member at ``position``: how a shell's bindings name its members."""
    return f"member{position}"


def ensemble_loop(
    user_input: Any,
    *,
    members: Sequence[str],
    same: AnswerMatcher = same_answer,
    extract: AnswerExtractor | None = None,
) -> FamilyLoop:
    """The ensemble's decisions: ask every member once, then vote (see the module docstring).

    Args:
        user_input: what every member is given.
        members: the members' names, in order (they become the ``member`` events).
    """
    check_samples_fit(len(members), name="len(runnables)")  # every member is asked once
    calls = tuple(Call(member_target(position), user_input) for position in range(len(members)))
    outputs = yield Step("generator", calls)
    candidates = make_candidates(outputs, start=0, extract=extract)
    for candidate in candidates:
        candidate.lineage = [(0, candidate.index)]
    named = [TTCEvent(kind="member", data={"index": i, "name": name}) for i, name in enumerate(members)]
    # A member the run's budget refused was never asked: say so rather than "done".
    stop = "budget" if any(c.budget_refused for c in candidates) else "done"
    return voted_result(candidates, stop_reason=stop, same=same, events=named)
