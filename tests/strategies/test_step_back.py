"""Step-back's decisions, checked once through the library's test double (`drive`)."""

import pytest

from ttc_plugins.strategies.step_back import step_back_loop
from ttc_plugins.strategies.steps import Call, drive


def test_the_answer_is_asked_with_the_principle_and_both_calls_made_it():
    seen: list[Call] = []

    def respond(call):
        seen.append(call)
        return "Addition combines amounts." if call.target == "principle" else "So 3 + 4 = 7. Answer: 7"

    result = drive(step_back_loop({"question": "3 + 4?"}, question="3 + 4?"), respond)
    assert [c.target for c in seen] == ["principle", "answer"]
    assert seen[1].payload["principle"] == "Addition combines amounts."
    assert (result.answer, result.chosen_candidate.lineage) == ("7", [(0, 0), (1, 0)])


@pytest.mark.parametrize("failing", ["principle", "answer"])
def test_a_failed_call_is_raised_there_is_nothing_else_to_return(failing):
    def respond(call):
        if call.target == failing:
            raise TimeoutError("slow")
        return "text"

    with pytest.raises(TimeoutError):
        drive(step_back_loop("q", question="q"), respond)
