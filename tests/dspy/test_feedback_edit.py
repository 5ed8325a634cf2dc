import threading
import time

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, budget_scope
from ttc_plugins.dspy.feedback_edit import FeedbackEdit


def draft(answer):
    return {"reasoning": "drafting", "answer": answer}


def feedback(text):
    return {"feedback": text}


def edit(answer):
    return {"answer": answer}


def judge(score):
    return {"critique": "graded", "is_correct": score >= 5, "score": score}


def by_length(inputs, prediction):
    return min(len(prediction.answer) / 40, 1.0)


def _program(judge=by_length, **widths):
    return FeedbackEdit("task -> answer", judge=judge, num_threads=1, **widths)


def _rollout_ids(lm, first, count):
    return [entry["kwargs"].get("rollout_id") for entry in lm.history[first : first + count]]


def test_optimizers_find_the_drafter_feedback_editor_and_an_llm_judge():
    assert [name for name, _ in _program().named_predictors()] == ["draft.predict", "feedback", "edit"]
    assert [name for name, _ in _program(judge="llm").named_predictors()] == [
        "draft.predict",
        "feedback",
        "edit",
        "judge",
    ]


def test_every_stage_runs_at_its_width_and_the_best_judged_version_wins():
    replies = [draft(f"draft {i}") for i in range(2)]
    replies += [feedback(f"feedback {i}") for i in range(6)]
    replies += [edit(f"a much longer edited version {i}") for i in range(12)]
    lm = DummyLM(replies)
    dspy.configure(lm=lm)
    judged = []
    program = _program(judge=lambda inputs, p: (judged.append(p.answer), by_length(inputs, p))[1],
                       drafts=2, feedbacks=3, edits=2)  # fmt: skip
    prediction = program(task="Write something.")
    result = prediction.ttc_result
    assert len(result.candidates) == len(judged) == 2 + 2 * 3 * 2
    assert {role: line.calls for role, line in result.spend.by_role.items()} == {
        "drafter": 2,
        "feedback": 6,
        "editor": 12,
    }
    assert [e.data for e in result.events if e.kind == "feedback"][:4] == [
        {"draft": 0, "feedback": "feedback 0"},
        {"draft": 0, "feedback": "feedback 1"},
        {"draft": 0, "feedback": "feedback 2"},
        {"draft": 1, "feedback": "feedback 3"},
    ]
    edits = [e.data for e in result.events if e.kind == "edit"]
    assert [(e["index"], e["draft"], e["feedback"]) for e in edits[:3]] == [
        (2, 0, "feedback 0"),
        (3, 0, "feedback 0"),
        (4, 0, "feedback 1"),
    ]
    assert (prediction.answer, result.chosen) == ("a much longer edited version 10", 12)  # the longest
    assert all(c.score is not None for c in result.candidates)


def test_repeated_requests_get_their_own_rollout_ids_and_the_temperature():
    lm = DummyLM([draft("a"), draft("b")] + [feedback("f")] * 2 + [edit("e")] * 4)
    dspy.configure(lm=lm)
    FeedbackEdit("task -> answer", judge=by_length, feedbacks=1, edits=2, num_threads=1)(task="t")
    assert _rollout_ids(lm, 0, 2) == [0, 1]  # drafts
    assert _rollout_ids(lm, 2, 2) == [0, 1]  # a feedback per draft
    assert _rollout_ids(lm, 4, 4) == [0, 1, 2, 3]  # two edits per feedback
    assert {entry["kwargs"]["temperature"] for entry in lm.history} == {0.7}


def test_a_draft_better_than_all_its_edits_wins():
    long_draft = draft("a long and careful draft that says everything")
    dspy.configure(lm=DummyLM([long_draft, feedback("shorten it"), edit("short"), edit("shorter")]))
    result = _program(drafts=1, feedbacks=1, edits=2)(task="q").ttc_result
    assert (result.chosen, result.output.answer) == (0, "a long and careful draft that says everything")
    assert [c.score for c in result.candidates] == [1.0, 5 / 40, 7 / 40]


def test_an_llm_judge_is_charged_as_judge_and_the_roles_add_up_to_the_total():
    better = "Draft, with much more detail."
    lm = DummyLM([draft("Draft."), feedback("- Add detail."), edit(better), judge(6), judge(9)])
    dspy.configure(lm=lm)
    budget = Budget()
    with budget_scope(budget):
        prediction = _program(judge="llm", drafts=1, feedbacks=1, edits=1)(task="Describe a cat.")
    spend = prediction.ttc_result.spend
    assert {role: line.calls for role, line in spend.by_role.items()} == {
        "drafter": 1,
        "feedback": 1,
        "editor": 1,
        "judge": 2,
    }
    assert sum(line.total_tokens for line in spend.by_role.values()) == spend.total_tokens == budget.spent.total_tokens
    assert (prediction.answer, [c.score for c in prediction.ttc_result.candidates]) == (better, [0.6, 0.9])
    # The judge reads the candidate fenced as data.
    assert f"<candidate>\nanswer: {better}\n</candidate>" in lm.history[4]["messages"][-1]["content"]


def test_a_role_given_its_own_lm_uses_it_and_it_is_charged():
    main_lm = DummyLM([draft("Draft."), edit("Edited draft, longer.")])
    feedback_lm = DummyLM([feedback("- Be longer.")])
    program = _program(drafts=1, feedbacks=1, edits=1)
    program.feedback.lm = feedback_lm
    budget = Budget()
    with dspy.context(lm=main_lm), budget_scope(budget):
        result = program(task="q").ttc_result
    assert (len(main_lm.history), len(feedback_lm.history)) == (2, 1)
    assert budget.spent.calls == result.spend.calls == 3
    assert result.spend.by_role["feedback"].calls == 1


def test_the_budget_stops_the_tree_and_the_best_judged_version_so_far_wins():
    dspy.configure(lm=DummyLM([draft("a"), draft("a longer draft"), feedback("more"), feedback("more")]))
    budget = Budget(max_calls=3)  # 2 drafts, 1 of 2 feedbacks; no edits; judging is programmatic
    with budget_scope(budget):
        result = _program(drafts=2, feedbacks=1, edits=1)(task="q").ttc_result
    assert (result.stop_reason, result.output.answer) == ("budget", "a longer draft")
    assert [e.kind for e in result.events].count("feedback_failed") == 1
    assert "BudgetExceeded" in next(e.data["error"] for e in result.events if e.kind == "feedback_failed")
    assert len(result.candidates) == budget.spent.calls - 1 == 2


def test_a_budget_too_small_for_any_draft_raises_naming_the_limit():
    dspy.configure(lm=DummyLM([draft("a")]))
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        _program()(task="q")


def test_nothing_judgeable_raises_with_the_reason():
    dspy.configure(lm=DummyLM([draft("x"), feedback("f"), edit("e")]))
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned str"):
        _program(judge=lambda inputs, p: "great!", drafts=1, feedbacks=1, edits=1)(task="q")


def test_the_calls_of_a_stage_run_in_parallel_up_to_num_threads():
    active, peak, lock = [0], [0], threading.Lock()

    def slow_judge(inputs, prediction):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return 0.5

    dspy.configure(lm=DummyLM([draft("d")] * 3 + [feedback("f")] * 3 + [edit("e")] * 3))
    program = FeedbackEdit("task -> answer", judge=slow_judge, drafts=3, feedbacks=1, edits=1, num_threads=3)
    result = program(task="q").ttc_result
    assert (len(result.candidates), peak[0]) == (6, 3)


def test_only_the_steps_that_made_the_winner_reach_the_callers_trace():
    dspy.configure(lm=DummyLM([draft("short"), feedback("say more"), edit("a much longer answer")]))
    program = _program(drafts=1, feedbacks=1, edits=1)
    trace = []
    with dspy.context(trace=trace):
        program(task="q")
    assert [predictor for predictor, _, _ in trace] == [program.feedback, program.edit]


@pytest.mark.parametrize("width", ["drafts", "feedbacks", "edits", "num_threads"])
def test_widths_must_be_positive(width):
    with pytest.raises(ValueError, match=f"{width} must be a positive integer"):
        FeedbackEdit("task -> answer", judge=by_length, **{width: 0})


async def test_aforward_gives_the_same_result():
    replies = [draft("d0"), draft("d1"), feedback("f0"), feedback("f1"), edit("a long edit"), edit("e")]
    program = FeedbackEdit("task -> answer", judge=by_length, feedbacks=1, edits=1, num_threads=1)
    with dspy.context(lm=DummyLM(replies)):
        expected = program(task="q").ttc_result
    with dspy.context(lm=DummyLM(replies)):
        got = (await program.acall(task="q")).ttc_result
    assert got.output.answer == expected.output.answer == "a long edit"
    assert sorted(c.answer for c in got.candidates) == sorted(c.answer for c in expected.candidates)
    assert {role: line.calls for role, line in got.spend.by_role.items()} == {"drafter": 2, "feedback": 2, "editor": 2}


def test_a_call_changes_nothing_on_the_module():
    dspy.configure(lm=DummyLM([draft("d"), feedback("f"), edit("e")]))
    program = _program(drafts=1, feedbacks=1, edits=1)
    before, state = dict(vars(program)), program.dump_state()
    program(task="q")
    assert vars(program) == before
    assert program.dump_state() == state


def test_bootstrap_few_shot_attaches_demos_that_survive_save_and_load(tmp_path):
    def is_seven(inputs, prediction):
        return prediction.answer == "7"

    def program():
        return FeedbackEdit("question -> answer", judge=is_seven, drafts=1, feedbacks=1, edits=1)

    dspy.configure(
        lm=DummyLM(
            [
                *[draft("8"), feedback("2 + 5 is 7."), edit("7")],  # 2 + 5: the edit wins
                *[draft("7"), feedback("Maybe 8?"), edit("8")],  # 3 + 4: the draft wins, the edit is worse
            ]
        )
    )
    trainset = [
        dspy.Example(question="What is 2 + 5?", answer="7").with_inputs("question"),
        dspy.Example(question="What is 3 + 4?", answer="7").with_inputs("question"),
    ]
    optimizer = dspy.BootstrapFewShot(
        metric=lambda example, prediction, trace=None: prediction.answer == example.answer,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(program(), trainset=trainset)
    # The winning edit teaches the feedback model and the editor; the draft it fixed teaches nobody.
    assert [(d.question, d.feedback) for d in compiled.feedback.demos] == [("What is 2 + 5?", "2 + 5 is 7.")]
    assert "answer: 8" in compiled.feedback.demos[0].draft
    assert [(d.question, d.feedback, d.answer) for d in compiled.edit.demos] == [("What is 2 + 5?", "2 + 5 is 7.", "7")]
    # A draft that won on its own teaches the drafter; its worse edit (and the feedback behind it) teach nobody.
    assert [(d.question, d.reasoning, d.answer) for d in compiled.draft.predict.demos] == [
        ("What is 3 + 4?", "drafting", "7")
    ]

    path = tmp_path / "feedback_edit.json"
    compiled.save(str(path))
    loaded = program()
    loaded.load(str(path))
    for name, predictor in compiled.named_predictors():
        original = [demo.toDict() for demo in predictor.demos]
        assert [dict(demo) for demo in dict(loaded.named_predictors())[name].demos] == original
    lm = DummyLM([draft("9"), feedback("It is 9."), edit("9")])
    with dspy.context(lm=lm):
        loaded(question="What is 4 + 5?")
    draft_request, _, edit_request = (str(entry["messages"]) for entry in lm.history)
    assert "What is 3 + 4?" in draft_request  # the loaded drafter demo is in use
    assert "2 + 5 is 7." not in draft_request  # the editor's demo stays the editor's
    assert "2 + 5 is 7." in edit_request
