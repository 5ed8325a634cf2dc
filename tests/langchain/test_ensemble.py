import asyncio

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, budget_scope
from ttc_plugins.langchain import ensemble


def _model(reply, name):
    return ScriptedChatModel(replies=[reply], model_name=name)


def test_the_answer_most_models_agree_on_wins():
    models = [_model("Answer: 5", "a"), _model("Answer: 4", "b"), _model("it is 4.0", "c")]
    result = ensemble(models).with_result().invoke("2 + 2?")
    assert (result.answer, result.chosen, result.output.content) == ("4", 1, "Answer: 4")
    assert [c.votes for c in result.candidates] == [1, 2, 2]
    assert [e.data["name"] for e in result.events if e.kind == "member"] == ["ScriptedChatModel"] * 3


def test_a_tie_goes_to_the_model_listed_first():
    assert ensemble([_model("Answer: 1", "a"), _model("Answer: 2", "b")]).invoke("q").content == "Answer: 1"


def test_a_failing_model_is_reported_and_the_others_vote():
    def broken(question):
        raise ConnectionError("provider down")

    result = ensemble([RunnableLambda(broken), _model("Answer: 3", "b")]).with_result().invoke("q")
    assert result.answer == "3"
    assert result.failures[0].error == "ConnectionError: provider down"


def test_every_model_failing_raises_with_the_first_failure():
    def broken(question):
        raise ConnectionError("provider down")

    with pytest.raises(AllCandidatesFailed, match="ConnectionError: provider down"):
        ensemble([RunnableLambda(broken)]).invoke("q")


def test_each_model_is_charged_to_the_budget_by_name():
    budget = Budget()
    with budget_scope(budget):
        result = ensemble([_model("Answer: 1", "small"), _model("Answer: 1", "large")]).with_result().invoke("q")
    assert {name: line.calls for name, line in budget.spent.by_model.items()} == {"small": 1, "large": 1}
    assert result.spend.calls == 2


async def test_ainvoke():
    assert (await ensemble([_model("Answer: 9", "a")]).ainvoke("q")).content == "Answer: 9"


def test_an_empty_ensemble_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        ensemble([])


def test_each_members_candidate_gets_its_own_tokens_even_from_a_text_chain():
    small = ScriptedChatModel(replies=["Answer: 7"], input_tokens=10, output_tokens=5) | StrOutputParser()
    large = ScriptedChatModel(replies=["Answer: 7"], input_tokens=30, output_tokens=20) | StrOutputParser()
    result = asyncio.run(ensemble([small, large]).with_result().ainvoke("q"))
    assert [(c.input_tokens, c.output_tokens) for c in result.candidates] == [(10, 5), (30, 20)]
    assert result.spend.total_tokens == 65
