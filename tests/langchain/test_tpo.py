import pytest
from langchain_core.runnables import RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import round_best_scores, tpo
from ttc_plugins.verifiers import programmatic

SCORES = {"bad": 0.1, "ok": 0.5, "good": 0.7, "great": 0.9, "best": 1.0}
BY_WORD = programmatic(lambda q, text: SCORES.get(text, 0.0), on="output", name="by word")
SERIAL = {"max_concurrency": 1}


def _queue(*texts):
    items = iter(texts)
    return RunnableLambda(lambda payload: next(items))


def _recorder(log, reply):
    def record(payload):
        log.append(payload)
        return reply

    return RunnableLambda(record)


def test_chosen_and_rejected_are_the_best_and_worst_scored_and_feed_the_next_round():
    losses, gradients, updates = [], [], []
    solver = tpo(
        _queue("ok", "bad", "good"),
        scorer=BY_WORD,
        samples=3,
        rounds=1,
        loss=_recorder(losses, "good is specific"),
        gradient=_recorder(gradients, "be specific"),
        update=RunnableLambda(lambda payload: (updates.append(payload), "great")[1]),
    )
    result = solver.with_result().invoke("Describe it.", SERIAL)
    assert (losses[0]["chosen"], losses[0]["rejected"]) == ("good", "bad")
    assert (losses[0]["chosen_score"], losses[0]["rejected_score"]) == (0.7, 0.1)
    assert gradients[0]["loss"] == "good is specific"
    assert [u["chosen"] for u in updates] == ["good"] * 3 and updates[0]["gradient"] == "be specific"
    assert (result.output, result.stop_reason) == ("great", "done")
    assert round_best_scores(result) == [0.7, 0.9]


def test_every_role_is_charged_and_the_budget_stops_mid_round():
    model = ScriptedChatModel(replies=["bad", "good", "loss text", "gradient text", "best", "best"], max_tokens=10)
    budget = Budget(max_calls=4)  # 2 samples, the loss, the gradient; the rewrite is refused
    with budget_scope(budget):
        result = tpo(model, scorer=BY_WORD, samples=2, rounds=1).with_result().invoke("q", SERIAL)
    assert result.stop_reason == "budget"
    assert result.output.content == "good"
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "critic": 2}


@pytest.mark.parametrize(("options", "fragment"), [({"samples": 1}, "at least 2"), ({"rounds": -1}, "rounds")])
def test_bad_options_are_rejected(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        tpo(_queue("x"), scorer=BY_WORD, loss=_queue(), gradient=_queue(), update=_queue(), **options)
