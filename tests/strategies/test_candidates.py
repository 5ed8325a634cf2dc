import pytest

from ttc_plugins import AllCandidatesFailed, BudgetExceeded, Candidate
from ttc_plugins.strategies.candidates import make_candidates, output_text, scored_result, voted_result


class _Message:
    def __init__(self, content, usage=None):
        self.content = content
        self.usage_metadata = usage


def test_outputs_and_failures_become_candidates():
    refused = BudgetExceeded("max_calls=2 would be exceeded", limit="max_calls", maximum=2, used=2, requested=1)
    cands = make_candidates(
        [_Message("Answer: 4", {"input_tokens": 9, "output_tokens": 3}), RuntimeError("boom"), refused, "no digits"],
        start=5,
    )
    assert [c.index for c in cands] == [5, 6, 7, 8]
    assert (cands[0].answer, cands[0].input_tokens, cands[0].output_tokens) == ("4", 9, 3)
    assert (cands[1].error, cands[1].budget_refused) == ("RuntimeError: boom", False)
    assert cands[2].budget_refused
    assert (cands[3].answer, cands[3].error) == (None, None)  # kept, but nothing to vote with


def test_a_failing_extractor_fails_only_that_candidate():
    def extract(output):
        if output == "bad":
            raise KeyError("answer")
        return output

    cands = make_candidates(["1", "bad"], start=0, extract=extract)
    assert cands[0].answer == "1"
    assert cands[1].error.startswith("answer extraction failed: KeyError")


@pytest.mark.parametrize(
    ("output", "text"),
    [("plain", "plain"), (_Message("hi"), "hi"), (_Message([{"type": "text", "text": "a"}, "b"]), "ab"),
     ({"answer": "42", "x": 1}, "42"), ({"output": "o"}, "o"), (3, "3")],
)  # fmt: skip
def test_output_text(output, text):
    assert output_text(output) == text


def test_voted_result_marks_votes_and_keeps_failures():
    cands = make_candidates(["Answer: 8", RuntimeError("x"), "Answer: 7", "Answer: 7.0", "nothing"], start=0)
    result = voted_result(cands, stop_reason="budget")
    assert (result.answer, result.chosen, result.output, result.stop_reason) == ("7", 2, "Answer: 7", "budget")
    assert [c.votes for c in result.candidates] == [1, 0, 2, 2, 0]
    assert [c.index for c in result.failures] == [1]
    assert result.events[-1].kind == "vote"


def test_weighted_voted_result_uses_scores():
    cands = [
        Candidate(index=i, output=a, answer=a, score=s) for i, (a, s) in enumerate([("3", 0.9), ("4", 0.4), ("4", 0.4)])
    ]
    assert voted_result(cands, stop_reason="done", weighted=True).answer == "3"
    assert voted_result(cands, stop_reason="done").answer == "4"


def test_outputs_without_answers_return_the_first_success_unvoted():
    cands = make_candidates([RuntimeError("x"), "free text", "more text"], start=0)
    result = voted_result(cands, stop_reason="done")
    assert (result.output, result.answer, result.chosen) == ("free text", None, 1)
    assert result.events[-1].kind == "no_answer_to_vote_on"


def test_all_failed_raises_with_the_first_failure():
    cands = make_candidates([RuntimeError("first"), ValueError("second")], start=0)
    with pytest.raises(
        AllCandidatesFailed, match="all 2 candidates failed; the first failure: RuntimeError: first"
    ) as raised:
        voted_result(cands, stop_reason="done")
    assert str(raised.value.__cause__) == "first"


def test_nothing_affordable_raises_budget_exceeded():
    refused = BudgetExceeded(
        "max_total_tokens=10 would be exceeded", limit="max_total_tokens", maximum=10, used=0, requested=20
    )
    with pytest.raises(BudgetExceeded) as raised:
        voted_result(make_candidates([refused], start=0), stop_reason="budget")
    assert raised.value is refused


def test_scored_result_picks_the_best_verified_candidate():
    cands = [
        Candidate(index=0, output="a", answer="1", score=0.4),
        Candidate(index=1, output="b", answer="2", score=None),
        Candidate(index=2, output="c", answer="3", score=0.8),
    ]
    result = scored_result(cands, stop_reason="done")
    assert (result.chosen, result.output) == (2, "c")


def test_scored_result_with_no_verified_candidate_raises():
    cands = [Candidate(index=0, output="a", answer="1", score=None, verdict=None)]
    with pytest.raises(AllCandidatesFailed, match="no candidate could be verified"):
        scored_result(cands, stop_reason="done")


def test_a_reply_with_no_text_is_a_failed_call_not_an_answer():
    from langchain_core.messages import AIMessage

    from ttc_plugins.strategies.candidates import make_candidates

    replies = ["  \n", AIMessage(content=""), AIMessage(content="", tool_calls=[{"name": "f", "args": {}, "id": "1"}]),
               {"answer": 12}, "Answer: 4"]  # fmt: skip
    candidates = make_candidates(replies, start=0)
    assert [c.ok for c in candidates] == [False, False, True, True, True]
    assert candidates[0].error == "empty output: the reply has no text"


def test_a_vote_over_empty_streams_fails_saying_so_instead_of_choosing_an_empty_reply():
    import pytest

    from ttc_plugins import AllCandidatesFailed
    from ttc_plugins.strategies.sampling import self_consistency_loop
    from ttc_plugins.strategies.steps import drive

    with pytest.raises(AllCandidatesFailed, match="empty output"):
        drive(self_consistency_loop("q", n=3), lambda call: "")
    replies = iter(["", "Answer: 4", ""])
    result = drive(self_consistency_loop("q", n=3), lambda call: next(replies))
    assert (result.answer, [c.ok for c in result.candidates]) == ("4", [False, True, False])
