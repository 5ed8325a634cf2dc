"""The ensemble's decisions, checked once through the library's test double (`drive`)."""

from __future__ import annotations

import pytest

from tests.strategies.stepping import refusal_by
from ttc_plugins import AllCandidatesFailed, Budget, budget_scope
from ttc_plugins.strategies.ensemble import ensemble_loop
from ttc_plugins.strategies.steps import Call, drive


def _answering(replies):
    asked = []

    def respond(call: Call):
        asked.append(call.target)
        reply = replies[call.target]
        if isinstance(reply, BaseException):
            raise reply
        return reply

    return respond, asked


def test_every_member_is_asked_once_and_the_majority_wins_with_ties_to_the_first_listed():
    respond, asked = _answering({"member0": "Answer: 5", "member1": "Answer: 4", "member2": "4", "member3": "5"})
    result = drive(ensemble_loop("q", members=["a", "b", "c", "d"]), respond)
    assert asked == ["member0", "member1", "member2", "member3"]
    assert (result.answer, result.chosen) == ("5", 0)
    assert [e.data for e in result.events if e.kind == "member"][1] == {"index": 1, "name": "b"}


def test_a_failing_member_is_kept_as_a_failure_and_the_others_vote():
    respond, _ = _answering({"member0": TimeoutError("slow"), "member1": "Answer: 4"})
    result = drive(ensemble_loop("q", members=["a", "b"]), respond)
    assert (result.answer, result.candidates[0].error) == ("4", "TimeoutError: slow")


def test_when_every_member_fails_the_run_raises_with_the_first_failure():
    respond, _ = _answering({"member0": TimeoutError("slow"), "member1": ValueError("bad")})
    with pytest.raises(AllCandidatesFailed, match="TimeoutError: slow"):
        drive(ensemble_loop("q", members=["a", "b"]), respond)


def test_more_members_than_the_budgets_max_calls_are_refused_before_any_call():
    respond, asked = _answering({})
    with budget_scope(Budget(max_calls=1)), pytest.raises(ValueError, match="len\\(runnables\\)=2"):
        drive(ensemble_loop("q", members=["a", "b"]), respond)
    assert asked == []


def test_a_member_the_budget_refused_is_marked_and_the_run_says_budget_not_done():
    respond, _ = _answering({"member0": refusal_by(Budget(max_calls=1)), "member1": "Answer: 4"})
    result = drive(ensemble_loop("q", members=["a", "b"]), respond)
    assert (result.answer, result.stop_reason) == ("4", "budget")
    assert result.candidates[0].budget_refused
