import math

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from tests.langchain.fakes import FencedJudgeModel, ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, budget_scope
from ttc_plugins.langchain import best_of_n, llm_judge
from ttc_plugins.verifiers import programmatic

PROMPT = ChatPromptTemplate.from_messages([("user", "{question}")])
SERIAL = {"max_concurrency": 1}


def _scores_by_answer(table):
    """A verifier scoring each answer from a table (unknown answers score 0)."""
    return programmatic(lambda question, answer: table.get(answer, 0.0))


def test_the_best_scored_sample_wins():
    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2", "Answer: 3"])
    solver = best_of_n(model, verifier=_scores_by_answer({"1": 0.2, "2": 0.9, "3": 0.5}), n=3, use_provider_n=False)
    result = solver.with_result().invoke("q", SERIAL)
    assert (result.chosen, result.answer, result.output.content) == (1, "2", "Answer: 2")
    assert [c.score for c in result.candidates] == [0.2, 0.9, 0.5]
    assert result.candidates[1].verdict.critique.endswith("passed")


def test_threshold_stops_at_the_first_good_enough_sample():
    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4"])
    verifier = _scores_by_answer({"1": 0.1, "2": 0.95, "3": 0.99, "4": 1.0})
    result = best_of_n(model, verifier=verifier, n=8, threshold=0.9, wave_size=3, use_provider_n=False)
    result = result.with_result().invoke("q", SERIAL)
    assert model.calls == 3  # one wave of 3; sampling stopped once a candidate reached 0.9
    assert (result.stop_reason, result.answer) == ("threshold", "2")  # the first above, not the later 0.99


def test_weighted_voting_can_overturn_a_raw_majority():
    model = ScriptedChatModel(replies=["Answer: 4", "Answer: 5", "Answer: 5", "Answer: 4"])
    verifier = _scores_by_answer({"4": 0.9, "5": 0.2})
    result = best_of_n(model, verifier=verifier, n=3, weighted=True, use_provider_n=False).with_result()
    assert result.invoke("q", SERIAL).answer == "4"  # 0.9 beats 0.2 + 0.2 although "5" has two votes


@pytest.mark.parametrize(
    ("garbage", "error"),
    [
        ("definitely!", "verification failed: verifier returned str"),
        # huge or non-finite scores are invalid verdicts too, not a crash of the run
        (10**5000, "verification failed: verifier returned"),
        (math.inf, "verification failed: verifier returned"),
        (math.nan, "verification failed: verifier returned"),
        ({"score": 10**5000}, "verification failed: verifier returned"),
    ],
    ids=["text", "10**5000", "inf", "nan", "mapping-10**5000"],
)
def test_garbage_from_the_verifier_fails_only_that_candidate(garbage, error):
    replies = iter([0.3, garbage, 0.8])
    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2", "Answer: 3"])
    result = best_of_n(model, verifier=lambda q, c: next(replies), n=3, use_provider_n=False)
    result = result.with_result().invoke("q", SERIAL)
    assert result.answer == "3"
    assert [c.index for c in result.failures] == [1]
    assert result.failures[0].error.startswith(error)


def test_a_verifier_that_raises_on_some_candidates_leaves_the_others():
    def verifier(question, candidate):
        if "2" in candidate.content:
            raise TimeoutError("judge timed out")
        return 0.4

    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2"])
    result = best_of_n(model, verifier=verifier, n=2, use_provider_n=False).with_result().invoke("q", SERIAL)
    assert result.answer == "1"
    assert result.failures[0].error == "verification failed: TimeoutError: judge timed out"


def test_when_no_candidate_can_be_verified_the_error_says_why():
    model = ScriptedChatModel(replies=["Answer: 1"])
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned NoneType"):
        best_of_n(model, verifier=lambda q, c: None, n=2, use_provider_n=False).invoke("q")


async def test_async_verifiers_and_ainvoke():
    async def verifier(question, candidate):
        return 1.0 if candidate.content.endswith("2") else 0.0

    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2"])
    solver = best_of_n(model, verifier=verifier, n=2, use_provider_n=False)
    assert (await solver.ainvoke("q", SERIAL)).content == "Answer: 2"
    assert solver.invoke("q", SERIAL).content == "Answer: 2"  # the same async verifier, from sync code


def test_an_llm_judge_sees_the_question_and_each_candidate_and_is_charged_as_verifier():
    generator = ScriptedChatModel(replies=["Answer: 6", "Answer: 7"], max_tokens=20)
    judge_model = FencedJudgeModel(truth="7", structured=False)
    budget = Budget()
    chain = PROMPT | generator | StrOutputParser()
    with budget_scope(budget):
        result = (
            best_of_n(chain, verifier=llm_judge(judge_model), n=2).with_result().invoke({"question": "3 + 4?"}, SERIAL)
        )
    assert result.output == "Answer: 7"
    assert all("<question>\n3 + 4?\n</question>" in prompt for prompt in judge_model.prompts)
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "verifier": 2}
    assert result.spend.calls == 4


def test_the_budget_stops_generation_and_the_best_affordable_sample_wins():
    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2", "Answer: 3"])
    budget = Budget(max_calls=5)
    verifier = _scores_by_answer({"1": 0.3, "2": 0.6})
    with budget_scope(budget):
        ScriptedChatModel(replies=["earlier work"]).batch(["q"] * 3)  # a shared budget: 2 calls are left
        result = best_of_n(model, verifier=verifier, n=5, use_provider_n=False).with_result().invoke("q", SERIAL)
    assert (result.stop_reason, result.answer, model.calls) == ("budget", "2", 2)


def test_a_judge_the_budget_cannot_pay_for_stops_the_run():
    generator = ScriptedChatModel(replies=["Answer: 7"], max_tokens=10)
    judge = llm_judge(ScriptedChatModel(replies=['{"score": 8}'], max_tokens=10), structured=False)
    budget = Budget(max_calls=3)  # 2 samples + 1 judgement; the second judgement is refused
    with budget_scope(budget):
        result = best_of_n(generator, verifier=judge, n=2, use_provider_n=False).with_result().invoke("q", SERIAL)
    assert result.stop_reason == "budget"
    assert [c.score for c in result.candidates] == [0.8, None]
    assert result.candidates[1].error.startswith("verification refused: max_calls=3")


def test_samples_paid_for_whose_judging_the_budget_refuses_are_returned_unverified_not_thrown_away():
    generator = ScriptedChatModel(replies=["Answer: 7", "Answer: 9"], max_tokens=10)
    judge = llm_judge(ScriptedChatModel(replies=['{"score": 8}'], max_tokens=10), structured=False)
    with budget_scope(Budget(max_calls=2)):  # the 2 samples; no judgement fits
        result = best_of_n(generator, verifier=judge, n=2, use_provider_n=False).with_result().invoke("q", SERIAL)
    assert (result.answer, result.stop_reason, result.chosen) == ("7", "budget", 0)
    assert result.events[-1].kind == "unverified_choice"
    assert all(c.error.startswith("verification refused: max_calls=2") for c in result.candidates)


@pytest.mark.parametrize(("options", "fragment"), [({"n": 0}, "n must"), ({"threshold": 2.0}, "threshold")])
def test_bad_options_are_rejected(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        best_of_n(ScriptedChatModel(replies=["x"]), verifier=lambda q, c: 1.0, **options)


def test_a_verifier_that_is_not_callable_is_rejected():
    with pytest.raises(TypeError, match="must be a Runnable or a callable"):
        best_of_n(ScriptedChatModel(replies=["x"]), verifier="strict")
