import itertools

import pytest
from langchain_core.runnables import RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, budget_scope
from ttc_plugins.langchain import feedback_edit
from ttc_plugins.verifiers import programmatic

LENGTH_SCORE = programmatic(lambda q, text: min(len(text) / 40, 1.0), on="output", name="length")


def _counter(prefix):
    numbers = itertools.count()
    return RunnableLambda(lambda payload: f"{prefix}{next(numbers)}")


def test_every_stage_runs_at_its_width_and_the_best_judged_version_wins():
    drafter, feedback, editor = _counter("draft "), _counter("feedback "), _counter("a much longer edited version ")
    result = feedback_edit(
        drafter, feedback_model=feedback, edit_model=editor, judge=LENGTH_SCORE, drafts=2, feedbacks=3, edits=2
    )
    result = result.with_result().invoke("Write something.", {"max_concurrency": 1})
    assert len(result.candidates) == 2 + 2 * 3 * 2
    assert [e.kind for e in result.events].count("feedback") == 6
    edits = [e.data for e in result.events if e.kind == "edit"]
    assert [(e["draft"], e["feedback"]) for e in edits[:2]] == [(0, "feedback 0"), (0, "feedback 0")]
    assert result.output == "a much longer edited version 10"  # the longest, so the best scored
    assert all(c.score is not None for c in result.candidates)


def test_a_draft_better_than_all_its_edits_wins():
    result = feedback_edit(
        RunnableLambda(lambda q: "a long and careful draft that says everything"),
        feedback_model=RunnableLambda(lambda d: "shorten it"),
        edit_model=RunnableLambda(lambda d: "short"),
        judge=LENGTH_SCORE,
        drafts=1, feedbacks=1, edits=2,
    )  # fmt: skip
    result = result.with_result().invoke("q")
    assert (result.chosen, result.output) == (0, "a long and careful draft that says everything")


def test_dedicated_models_get_their_role_prompts_and_are_charged_by_role():
    drafter = ScriptedChatModel(replies=["Draft."], model_name="drafter", max_tokens=20)
    feedback_model = ScriptedChatModel(replies=["- Add detail."], model_name="critic-model", max_tokens=20)
    edit_model = ScriptedChatModel(replies=["Draft, with much more detail."], model_name="editor-model", max_tokens=20)
    judge = ScriptedChatModel(replies=['{"score": 6}', '{"score": 9}'], model_name="judge-model", max_tokens=20)
    from ttc_plugins.langchain import llm_judge

    budget = Budget()
    with budget_scope(budget):
        result = feedback_edit(
            drafter, feedback_model=feedback_model, edit_model=edit_model, judge=llm_judge(judge, structured=False),
            drafts=1, feedbacks=1, edits=1,
        ).with_result().invoke("Describe a cat.", {"max_concurrency": 1})  # fmt: skip
    assert result.output.content == "Draft, with much more detail."
    by_role = {role: line.calls for role, line in budget.spent.by_role.items()}
    assert by_role == {"drafter": 1, "feedback": 1, "editor": 1, "judge": 2}
    by_model = {model: line.calls for model, line in budget.spent.by_model.items()}
    assert by_model == {"drafter": 1, "critic-model": 1, "editor-model": 1, "judge-model": 2}
    assert sum(line.total_tokens for line in budget.spent.by_role.values()) == result.spend.total_tokens


def test_the_budget_stops_the_tree_and_the_best_judged_version_so_far_wins():
    budget = Budget(max_calls=3)  # 2 drafts, 1 of 2 feedbacks; no edits; judging is programmatic
    drafter = ScriptedChatModel(replies=["a", "a longer draft"], model_name="d", max_tokens=5)
    feedback_model = ScriptedChatModel(replies=["more"], model_name="f", max_tokens=5)
    with budget_scope(budget):
        solver = feedback_edit(drafter, feedback_model=feedback_model, edit_model=_counter("edit "), judge=LENGTH_SCORE,
                               drafts=2, feedbacks=1, edits=1)  # fmt: skip
        result = solver.with_result().invoke("q", {"max_concurrency": 1})
    assert result.stop_reason == "budget"
    assert result.output.content == "a longer draft"
    assert [e.kind for e in result.events].count("feedback_failed") == 1


def test_nothing_judgeable_raises_with_the_reason():
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned str"):
        feedback_edit(RunnableLambda(lambda q: "x"), feedback_model=_counter("f"), edit_model=_counter("e"),
                      judge=lambda q, c: "great!", drafts=1, feedbacks=1, edits=1).invoke("q")  # fmt: skip


@pytest.mark.parametrize("width", ["drafts", "feedbacks", "edits"])
def test_widths_must_be_positive(width):
    with pytest.raises(ValueError, match=width):
        feedback_edit(
            _counter("d"), feedback_model=_counter("f"), edit_model=_counter("e"), judge=LENGTH_SCORE, **{width: 0}
        )


def test_a_missing_role_model_is_named():
    with pytest.raises(ValueError, match="to act as feedback_model"):
        feedback_edit(_counter("d"), feedback_model=None, edit_model=_counter("e"), judge=LENGTH_SCORE)
