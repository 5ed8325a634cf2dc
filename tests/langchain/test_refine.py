import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, BudgetExceeded, budget_scope
from ttc_plugins.langchain import refine
from ttc_plugins.verifiers import programmatic

IS_SEVEN = programmatic(lambda question, answer: answer == "7", name="is 7")


def _fixed(text):
    return RunnableLambda(lambda _: text)


def _rules_stop(result):
    return [e.data["rule"] for e in result.events if e.kind == "stop"]


def test_an_edit_that_would_make_the_answer_worse_is_rejected():
    solver = refine(
        _fixed("3 + 4 = 7. Answer: 7"),
        critic=_fixed("Check again: 3 + 4 might be 8."),
        editor=_fixed("3 + 4 = 8. Answer: 8"),
        scorer=IS_SEVEN,
        patience=1,
    )
    result = solver.with_result().invoke("What is 3 + 4?")
    assert result.output == "3 + 4 = 7. Answer: 7"
    assert [(c.answer, c.score) for c in result.candidates] == [("7", 1.0), ("8", 0.0)]
    assert [e.kind for e in result.events if e.kind.startswith("edit")] == ["edit_rejected"]
    assert _rules_stop(result) == ["patience"]


def test_a_better_edit_is_accepted_and_the_critic_ends_the_run():
    critic = RunnableLambda(lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "3 + 4 is 7.")
    solver = refine(_fixed("Answer: 8"), critic=critic, editor=_fixed("Answer: 7"), scorer=IS_SEVEN)
    result = solver.with_result().invoke("What is 3 + 4?")
    assert (result.output, result.chosen, result.stop_reason) == ("Answer: 7", 1, "converged")
    critiques = [e.data["critique"] for e in result.events if e.kind == "critique"]
    assert critiques == ["3 + 4 is 7.", "NO ISSUES"]


@pytest.mark.parametrize(
    ("options", "edits", "rule", "versions"),
    [
        ({"max_rounds": 2, "patience": None}, ["Answer: 5", "Answer: 6"], "max_rounds", 3),
        ({"max_rounds": 5, "threshold": 1.0}, ["Answer: 5", "Answer: 7", "Answer: 7"], "threshold", 3),
    ],
)
def test_round_limits_and_thresholds_stop_for_their_reason(options, edits, rule, versions):
    queue = iter(edits)
    solver = refine(_fixed("Answer: 4"), critic=_fixed("wrong"), editor=RunnableLambda(lambda d: next(queue)),
                    scorer=IS_SEVEN, **options)  # fmt: skip
    result = solver.with_result().invoke("What is 3 + 4?")
    assert _rules_stop(result) == [rule]
    assert len(result.candidates) == versions


def test_a_failing_critic_costs_a_round_not_the_run():
    def critic(payload):
        raise TimeoutError("critic timed out")

    result = refine(_fixed("Answer: 7"), critic=critic, editor=_fixed("x"), scorer=IS_SEVEN, patience=2)
    result = result.with_result().invoke("q")
    assert result.output == "Answer: 7"
    assert [c.error for c in result.candidates[1:]] == ["critique failed: TimeoutError: critic timed out"] * 2


def _role_models():
    return {
        "runnable": ScriptedChatModel(replies=["Answer: 8"], model_name="drafter", max_tokens=20),
        "critic": ScriptedChatModel(replies=["It is 7."], model_name="critic", max_tokens=20),
        "editor": ScriptedChatModel(replies=["Answer: 7"], model_name="editor", max_tokens=20),
    }


def test_every_role_is_charged_and_the_roles_add_up_to_the_total():
    models = _role_models()
    budget = Budget()
    with budget_scope(budget):
        result = refine(**models, scorer=IS_SEVEN, max_rounds=2, patience=None).with_result().invoke("What is 3 + 4?")
    by_role = result.spend.by_role
    assert {role: line.calls for role, line in by_role.items()} == {"generator": 1, "critic": 2, "editor": 2}
    assert sum(line.total_tokens for line in by_role.values()) == result.spend.total_tokens == budget.spent.total_tokens
    assert result.output.content == "Answer: 7"


def test_the_budget_running_out_mid_round_returns_the_best_so_far():
    budget = Budget(max_calls=3)  # draft, critique, edit; the second critique is refused
    with budget_scope(budget):
        result = refine(**_role_models(), scorer=IS_SEVEN, max_rounds=3).with_result().invoke("What is 3 + 4?")
    assert (result.stop_reason, result.output.content) == ("budget", "Answer: 7")
    assert budget.spent.calls == 3


def test_a_budget_too_small_for_the_draft_raises():
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        refine(**_role_models(), scorer=IS_SEVEN).invoke("What is 3 + 4?")


def test_defaults_use_the_chains_own_model_and_keep_its_output_type():
    model = ScriptedChatModel(replies=["Answer: 6", '{"score": 4}', "NO ISSUES"], max_tokens=20)
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | model | StrOutputParser()
    budget = Budget()
    with budget_scope(budget):
        result = refine(chain, max_rounds=1).with_result().invoke({"question": "What is 3 + 4?"})
    assert result.output == "Answer: 6"  # a str, as the chain returns
    assert result.candidates[0].score == 0.4  # the default judge read '{"score": 4}'
    assert set(budget.spent.by_role) == {"generator", "verifier", "critic"}
    assert _rules_stop(result) == ["critic_satisfied"]


def test_without_a_model_to_default_to_the_missing_role_is_named():
    with pytest.raises(ValueError, match="to act as critic; pass critic="):
        refine(_fixed("x"), scorer=IS_SEVEN)


async def test_ainvoke_runs_the_same_loop():
    critic = RunnableLambda(lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "fix it")
    solver = refine(_fixed("Answer: 8"), critic=critic, editor=_fixed("Answer: 7"), scorer=IS_SEVEN)
    assert await solver.ainvoke("q") == "Answer: 7"
