import asyncio

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins import Budget, BudgetExceeded, TTCResult, Verdict, budget_scope
from ttc_plugins.dspy.judge import JudgeAnswer
from ttc_plugins.dspy.refine import Refine


def draft(answer):
    return {"reasoning": f"thinking about {answer}", "answer": answer}


def critique(text):
    return {"feedback": text}


def edit(answer):
    return {"answer": answer}


def judge(score):
    return {"critique": "graded", "is_correct": score >= 5, "score": score}


def is_seven(inputs, prediction):
    return prediction.answer == "7"


def _stop_rules(result):
    return [e.data["rule"] for e in result.events if e.kind == "stop"]


def _last_message(entry):
    return entry["messages"][-1]["content"]


def test_optimizers_find_the_drafter_critic_and_editor():
    assert [name for name, _ in Refine("question -> answer", scorer=is_seven).named_predictors()] == [
        "draft.predict",
        "critic",
        "edit",
    ]
    with_judge = Refine("question -> answer", scorer="llm")
    assert [name for name, _ in with_judge.named_predictors()] == ["draft.predict", "critic", "edit", "judge"]
    assert with_judge.judge.signature is JudgeAnswer


def test_a_worse_edit_is_rejected_and_the_best_version_is_returned():
    dspy.configure(lm=DummyLM([draft("7"), critique("Check again: 3 + 4 might be 8."), edit("8")]))
    prediction = Refine("question -> answer", scorer=is_seven, patience=1)(question="What is 3 + 4?")
    result = prediction.ttc_result
    assert isinstance(result, TTCResult)
    assert (prediction.answer, prediction.reasoning) == ("7", "thinking about 7")
    assert [(c.answer, c.score) for c in result.candidates] == [("7", 1.0), ("8", 0.0)]
    assert [e.kind for e in result.events if e.kind.startswith("edit")] == ["edit_rejected"]
    assert (_stop_rules(result), result.stop_reason, result.chosen) == (["patience"], "converged", 0)


def test_a_better_edit_is_accepted_and_the_critic_ends_the_run():
    lm = DummyLM([draft("8"), critique("3 + 4 is 7."), edit("7"), critique("NO ISSUES")])
    dspy.configure(lm=lm)
    prediction = Refine("question -> answer", scorer=is_seven)(question="What is 3 + 4?")
    result = prediction.ttc_result
    assert (prediction.answer, result.chosen, result.stop_reason) == ("7", 1, "converged")
    assert _stop_rules(result) == ["critic_satisfied"]
    assert [e.data["critique"] for e in result.events if e.kind == "critique"] == ["3 + 4 is 7.", "NO ISSUES"]
    # The critic and the editor see the question as a field and the version under review fenced as data.
    first_critique, edit_request, second_critique = (_last_message(entry) for entry in lm.history[1:])
    assert "[[ ## question ## ]]\nWhat is 3 + 4?" in first_critique
    assert "[[ ## draft ## ]]\n<draft>\nreasoning: thinking about 8\nanswer: 8\n</draft>" in first_critique
    assert "[[ ## feedback ## ]]\n3 + 4 is 7." in edit_request
    assert "[[ ## draft ## ]]\n<draft>\nanswer: 7\n</draft>" in second_critique


@pytest.mark.parametrize(
    ("options", "edits", "rule", "reason", "versions"),
    [
        ({"max_rounds": 2, "patience": None}, ["5", "6"], "max_rounds", "done", 3),
        ({"max_rounds": 5, "threshold": 1.0}, ["5", "7"], "threshold", "threshold", 3),
        ({"max_rounds": 5, "patience": 2}, ["5", "6", "9"], "patience", "converged", 4),
    ],
)
def test_round_limits_thresholds_and_patience_stop_for_their_reason(options, edits, rule, reason, versions):
    # "5" ties the draft (accepted: not lower), "6" and "9" score lower (rejected), "7" is right.
    replies = [draft("4")]
    for answer in edits:
        replies += [critique("wrong"), edit(answer)]
    scores = {"4": 0.2, "5": 0.2, "6": 0.1, "7": 1.0, "9": 0.1}
    dspy.configure(lm=DummyLM(replies))
    program = Refine("question -> answer", scorer=lambda inputs, p: scores[p.answer], **options)
    result = program(question="What is 3 + 4?").ttc_result
    assert (_stop_rules(result), result.stop_reason, len(result.candidates)) == ([rule], reason, versions)


def test_accept_higher_rejects_an_edit_that_only_ties():
    dspy.configure(lm=DummyLM([draft("4"), critique("wrong"), edit("5")]))
    program = Refine("question -> answer", scorer=lambda inputs, p: 0.5, accept="higher", max_rounds=1)
    result = program(question="q").ttc_result
    assert (result.chosen, [e.kind for e in result.events if e.kind.startswith("edit")]) == (0, ["edit_rejected"])


def test_critiques_and_edits_each_get_their_own_rollout_id_and_the_draft_none():
    lm = DummyLM([draft("4"), critique("wrong"), edit("5"), critique("wrong"), edit("6")])
    dspy.configure(lm=lm)
    Refine("question -> answer", scorer=lambda inputs, p: 0.0, max_rounds=2, patience=None)(question="q")
    rollout_ids = [entry["kwargs"].get("rollout_id") for entry in lm.history]
    assert rollout_ids == [None, 0, 0, 1, 1]  # draft, critique, edit, critique, edit


def test_a_failing_critic_costs_a_round_not_the_run():
    dspy.configure(
        lm=DummyLM([draft("7"), {"nonsense": "x"}, {"nonsense": "y"}]),
        adapter=dspy.ChatAdapter(use_json_adapter_fallback=False),  # one call per critique
    )
    result = Refine("question -> answer", scorer=is_seven, patience=2)(question="q").ttc_result
    assert result.output.answer == "7"
    assert [c.error.split(":")[0] for c in result.candidates[1:]] == ["critique failed"] * 2
    assert all("AdapterParseError" in c.error for c in result.candidates[1:])
    assert _stop_rules(result) == ["patience"]


def test_a_draft_that_fails_raises_its_error():
    dspy.configure(lm=DummyLM([{"nonsense": "x"}]), adapter=dspy.ChatAdapter(use_json_adapter_fallback=False))
    with pytest.raises(dspy.utils.exceptions.AdapterParseError):
        Refine("question -> answer", scorer=is_seven)(question="q")


def test_every_role_is_charged_and_the_roles_add_up_to_the_total():
    replies = [draft("8"), judge(2), critique("It is 7."), edit("7"), judge(9)]
    dspy.configure(lm=DummyLM(replies))
    budget = Budget()
    with budget_scope(budget):
        budget.reserve(5, 5).commit(5, 5)  # spent before the strategy ran: not the run's
        prediction = Refine("question -> answer", scorer="llm", max_rounds=1)(question="What is 3 + 4?")
    spend = prediction.ttc_result.spend
    assert {role: line.calls for role, line in spend.by_role.items()} == {
        "generator": 1,
        "verifier": 2,
        "critic": 1,
        "editor": 1,
    }
    assert sum(line.total_tokens for line in spend.by_role.values()) == spend.total_tokens > 0
    assert budget.spent.total_tokens == spend.total_tokens + 10
    assert (prediction.answer, [c.score for c in prediction.ttc_result.candidates]) == ("7", [0.2, 0.9])
    assert prediction.ttc_result.candidates[1].verdict == Verdict(score=0.9, is_correct=True, critique="graded")


@pytest.mark.parametrize(("max_calls", "answer"), [(2, "8"), (3, "7")])
def test_the_budget_running_out_mid_round_returns_the_best_so_far(max_calls, answer):
    # 2: the draft and a critique; the edit is refused. 3: the edit too; the second critique is refused.
    lm = DummyLM([draft("8"), critique("It is 7."), edit("7"), critique("fine")])
    dspy.configure(lm=lm)
    budget = Budget(max_calls=max_calls)
    with budget_scope(budget):
        result = Refine("question -> answer", scorer=is_seven, max_rounds=3)(question="q").ttc_result
    assert (result.stop_reason, _stop_rules(result), result.output.answer) == ("budget", ["budget"], answer)
    assert len(lm.history) == budget.spent.calls == result.spend.calls == max_calls


def test_a_budget_too_small_for_the_draft_raises_naming_the_limit():
    lm = DummyLM([draft("7")])
    dspy.configure(lm=lm)
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        Refine("question -> answer", scorer=is_seven)(question="q")
    assert lm.history == []


def test_only_the_steps_that_made_the_returned_version_reach_the_callers_trace():
    dspy.configure(lm=DummyLM([draft("8"), critique("It is 7."), edit("7"), critique("NO ISSUES")]))
    program = Refine("question -> answer", scorer=is_seven)
    trace = []
    with dspy.context(trace=trace):
        program(question="q")
    # Not the draft the editor had to fix; the critique and edit that fixed it, and the final "no issues".
    assert [predictor for predictor, _, _ in trace] == [program.critic, program.edit, program.critic]
    assert [outputs.toDict() for _, _, outputs in trace] == [
        {"feedback": "It is 7."},
        {"answer": "7"},
        {"feedback": "NO ISSUES"},
    ]


def test_a_draft_that_stays_best_reaches_the_trace_and_a_rejected_edit_does_not():
    dspy.configure(lm=DummyLM([draft("7"), critique("Maybe 8?"), edit("8")]))
    program = Refine("question -> answer", scorer=is_seven, patience=1)
    trace = []
    with dspy.context(trace=trace):
        program(question="q")
    assert [(predictor, outputs.answer) for predictor, _, outputs in trace] == [(program.draft.predict, "7")]


def test_bootstrap_few_shot_attaches_demos_that_survive_save_and_load(tmp_path):
    dspy.configure(
        lm=DummyLM(
            [
                *[draft("7"), critique("NO ISSUES")],  # 3 + 4: right at once
                *[draft("8"), critique("2 + 5 is 7."), edit("7"), critique("NO ISSUES")],  # 2 + 5: fixed by an edit
            ]
        )
    )
    trainset = [
        dspy.Example(question="What is 3 + 4?", answer="7").with_inputs("question"),
        dspy.Example(question="What is 2 + 5?", answer="7").with_inputs("question"),
    ]
    optimizer = dspy.BootstrapFewShot(
        metric=lambda example, prediction, trace=None: prediction.answer == example.answer,
        max_bootstrapped_demos=4,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(Refine("question -> answer", scorer=is_seven), trainset=trainset)
    assert [(d.question, d.answer) for d in compiled.draft.predict.demos] == [("What is 3 + 4?", "7")]
    assert [(d.question, d.feedback, d.answer) for d in compiled.edit.demos] == [("What is 2 + 5?", "2 + 5 is 7.", "7")]
    assert len(compiled.critic.demos) == 2  # one per example (BootstrapFewShot keeps one step per predictor)
    assert compiled.critic.demos[0].feedback == "NO ISSUES"

    path = tmp_path / "refine.json"
    compiled.save(str(path))
    loaded = Refine("question -> answer", scorer=is_seven)
    loaded.load(str(path))
    for name, predictor in compiled.named_predictors():
        original = [demo.toDict() for demo in predictor.demos]
        assert [dict(demo) for demo in dict(loaded.named_predictors())[name].demos] == original
    lm = DummyLM([draft("9"), critique("NO ISSUES")])
    with dspy.context(lm=lm):
        loaded(question="What is 4 + 5?")
    assert "What is 3 + 4?" in str(lm.history[0]["messages"])  # the loaded drafter demo is in use
    assert "2 + 5 is 7." not in str(lm.history[0]["messages"])  # the editor's demo stays the editor's


def test_a_judge_predictor_is_used_as_the_optimizable_judge():
    judge_module = dspy.Predict(JudgeAnswer)
    program = Refine("question -> answer", scorer=judge_module, max_rounds=0)
    assert program.judge is judge_module
    dspy.configure(lm=DummyLM([draft("7"), judge(12)]))  # a score outside 0-10 is no verdict
    result = program(question="q").ttc_result
    # Worded as every shell words a judge's invalid verdict (best-of-N, TPO, LangChain): with its type.
    assert result.candidates[0].error.startswith("scoring failed: InvalidVerdict: judge gave a score outside 0-10")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scorer": is_seven, "rubric": "be strict"}, ValueError, "rubric is for an LLM judge"),
        ({"scorer": "judge"}, ValueError, "the only scorer given by name is 'llm'"),
        ({"scorer": 0.5}, TypeError, "a scorer is a function"),
        ({"scorer": is_seven, "answer_field": "nope"}, ValueError, "answer_field 'nope' is not an output field"),
        ({"scorer": is_seven, "max_rounds": -1}, ValueError, "max_rounds must be a non-negative integer"),
        ({"scorer": is_seven, "accept": "always"}, ValueError, "accept must be"),
    ],
)
def test_bad_options_fail_when_the_module_is_built(options, error, message):
    with pytest.raises(error, match=message):
        Refine("question -> answer", **options)


def test_fields_that_clash_with_the_roles_fields_are_named():
    with pytest.raises(ValueError, match=r"fields \['draft'\] clash"):
        Refine("question, draft -> answer", scorer=is_seven)


def test_an_async_scorer_works_in_forward_and_aforward():
    async def is_seven_later(inputs, prediction):
        await asyncio.sleep(0)
        return prediction.answer == "7"

    program = Refine("question -> answer", scorer=is_seven_later, max_rounds=0)
    with dspy.context(lm=DummyLM([draft("7")])):
        assert program(question="q").ttc_result.candidates[0].score == 1.0
    with dspy.context(lm=DummyLM([draft("8")])):
        assert asyncio.run(program.acall(question="q")).ttc_result.candidates[0].score == 0.0


async def test_an_async_scorer_works_when_forward_is_called_inside_a_running_loop():
    async def is_seven_later(inputs, prediction):
        return prediction.answer == "7"

    with dspy.context(lm=DummyLM([draft("7")])):  # as in a notebook: a sync call where a loop is running
        prediction = Refine("question -> answer", scorer=is_seven_later, max_rounds=0)(question="q")
    assert prediction.ttc_result.candidates[0].score == 1.0


async def test_aforward_runs_the_same_loop():
    replies = [draft("8"), critique("It is 7."), edit("7"), critique("NO ISSUES")]
    program = Refine("question -> answer", scorer=is_seven)
    sync_lm, async_lm = DummyLM(replies), DummyLM(replies)
    with dspy.context(lm=sync_lm):
        expected = program(question="q").ttc_result
    with dspy.context(lm=async_lm):
        got = await program.acall(question="q")
    assert got.answer == "7"
    assert [e.model_dump() for e in got.ttc_result.events] == [e.model_dump() for e in expected.events]
    assert got.ttc_result.spend.by_role.keys() == {"generator", "critic", "editor"}
    history = [(_last_message(e), e["kwargs"].get("rollout_id")) for e in async_lm.history]
    assert history == [(_last_message(e), e["kwargs"].get("rollout_id")) for e in sync_lm.history]


async def test_aforward_obeys_the_budget():
    budget = Budget(max_calls=3)
    with dspy.context(lm=DummyLM([draft("8"), critique("It is 7."), edit("7")])), budget_scope(budget):
        result = (await Refine("question -> answer", scorer=is_seven).acall(question="q")).ttc_result
    assert (result.stop_reason, result.output.answer, budget.spent.calls) == ("budget", "7", 3)


def test_a_call_changes_nothing_on_the_module():
    dspy.configure(lm=DummyLM([draft("8"), critique("It is 7."), edit("7"), critique("NO ISSUES")]))
    program = Refine("question -> answer", scorer=is_seven)
    before, state = dict(vars(program)), program.dump_state()
    program(question="q")
    assert vars(program) == before
    assert program.dump_state() == state
