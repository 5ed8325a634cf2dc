import pytest

from ttc_plugins import Budget, BudgetExceeded, Verdict, budget_scope
from ttc_plugins.langgraph._reply_log import decode_reply, encode_reply
from ttc_plugins.strategies.candidates import MeteredOutput, apply_verdict, make_candidates, stops_the_run


class QuotaError(Exception):
    pass


def _refusal(budget):
    budget.reserve(1, 1).commit(1, 1)
    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(1, 1)
    return refused.value


def _replayed(reply, **options):
    # Through the checkpointer's own serializer, as a resumed run reads its log.
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    return decode_reply(serde.loads_typed(serde.dumps_typed(encode_reply(reply, **options))))


def test_a_failed_call_reads_the_same_to_the_core_after_a_checkpoint():
    live = [ValueError("bad input"), QuotaError("over quota"), MeteredOutput("Answer: 4", 12, 3)]
    replayed = [_replayed(reply) for reply in live]
    assert [c.model_dump() for c in make_candidates(replayed, start=0)] == [
        c.model_dump() for c in make_candidates(live, start=0)
    ]
    assert type(replayed[0]) is ValueError and type(replayed[1]).__name__ == "QuotaError"


def test_a_run_refusal_still_stops_the_run_and_a_calls_own_refusal_does_not():
    run = Budget(max_calls=1, name="run")
    own_cap = Budget().child(max_calls=1, name="tool cap")
    run_refusal, own_refusal = _refusal(run), _refusal(own_cap)
    replayed_run = _replayed(run_refusal, stops_run=True)
    replayed_own = _replayed(own_refusal, stops_run=False)
    with budget_scope(Budget(name="replaying")):
        assert stops_the_run(replayed_run) and not stops_the_run(replayed_own)
    assert (replayed_run.limit, replayed_run.maximum, replayed_run.used, str(replayed_run)) == (
        "max_calls",
        1,
        1,
        str(run_refusal),
    )


def test_outputs_that_look_like_records_are_left_alone():
    assert decode_reply({"ttc_error": "mine", "other": 1}) == {"ttc_error": "mine", "other": 1}
    assert decode_reply({"answer": "4"}) == {"answer": "4"}


def test_a_verdict_is_logged_as_plain_data_and_scores_the_same_after_a_checkpoint(caplog):
    # A Verdict object would come back from the serializer as an "unregistered type" (logged, and
    # blocked under LANGGRAPH_STRICT_MSGPACK); its mapping needs no class and scores the same.
    verdict = Verdict(score=0.4, is_correct=False, critique="off by one")
    candidate = make_candidates(["Answer: 4"], start=0)[0]
    replayed = _replayed(verdict)
    assert apply_verdict(candidate, replayed) == apply_verdict(candidate, verdict)
    assert "unregistered" not in caplog.text
