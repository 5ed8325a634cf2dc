import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, budget_scope
from ttc_plugins.dspy.tpo import TPO

SCORES = {"bad": 0.1, "ok": 0.5, "good": 0.7, "great": 0.9, "best": 1.0}


def by_word(inputs, prediction):
    return SCORES.get(prediction.answer, 0.0)


def sample(answer):
    return {"reasoning": "thinking", "answer": answer}


def update(answer):
    return {"answer": answer}


def judge(score):
    return {"critique": "graded", "is_correct": score >= 5, "score": score}


LOSS = {"analysis": "good is specific"}
GRADIENT = {"suggestions": "be specific"}


def _program(**options):
    return TPO("question -> answer", scorer=options.pop("scorer", by_word), num_threads=1, **options)


def _content(entry):
    return entry["messages"][-1]["content"]


def test_optimizers_find_the_generator_loss_gradient_and_update():
    assert [name for name, _ in _program().named_predictors()] == ["generate.predict", "loss", "gradient", "update"]
    assert [name for name, _ in _program(scorer="llm").named_predictors()][-1] == "judge"


def test_chosen_and_rejected_are_the_best_and_worst_scored_and_feed_the_next_round():
    lm = DummyLM([sample("ok"), sample("bad"), sample("good"), LOSS, GRADIENT] + [update("great")] * 3)
    dspy.configure(lm=lm)
    prediction = _program(samples=3, rounds=1)(question="Describe it.")
    result = prediction.ttc_result
    gradient = next(e.data for e in result.events if e.kind == "textual_gradient")
    assert (gradient["chosen"], gradient["rejected"]) == (2, 1)  # "good" (0.7) and "bad" (0.1)
    assert (gradient["loss"], gradient["gradient"]) == ("good is specific", "be specific")
    loss_request, gradient_request, update_request = (_content(entry) for entry in lm.history[3:6])
    assert "<better>\nreasoning: thinking\nanswer: good\n</better>" in loss_request
    assert "[[ ## better_score ## ]]\n0.7" in loss_request
    assert "<worse>\nreasoning: thinking\nanswer: bad\n</worse>" in loss_request
    assert "[[ ## worse_score ## ]]\n0.1" in loss_request
    assert "[[ ## analysis ## ]]\ngood is specific" in gradient_request
    assert "<best>\nreasoning: thinking\nanswer: good\n</best>" in update_request
    assert "[[ ## suggestions ## ]]\nbe specific" in update_request
    assert (prediction.answer, result.stop_reason) == ("great", "done")
    assert prediction.round_best_scores == [0.7, 0.9]
    assert [e.data for e in result.events if e.kind == "round_best"] == [
        {"round": 0, "best_score": 0.7},
        {"round": 1, "best_score": 0.9},
    ]


def test_each_round_rewrites_from_the_best_response_so_far():
    replies = [sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("bad")]
    replies += [LOSS, GRADIENT, update("best"), update("good")]
    lm = DummyLM(replies)
    dspy.configure(lm=lm)
    prediction = _program(samples=2, rounds=2)(question="q")
    gradients = [e.data for e in prediction.ttc_result.events if e.kind == "textual_gradient"]
    pairs = [(data["chosen"], data["rejected"]) for data in gradients]
    # Round 2 compares round 1's "great" with the worst of all rounds (a tie for worst goes to the later "bad").
    assert pairs == [(0, 1), (2, 3)]
    assert (prediction.answer, prediction.round_best_scores) == ("best", [0.5, 0.9, 1.0])


def test_samples_and_updates_get_their_own_rollout_ids_and_the_temperature():
    lm = DummyLM([sample("ok"), sample("bad"), sample("good"), LOSS, GRADIENT] + [update("great")] * 3)
    dspy.configure(lm=lm)
    _program(samples=3, rounds=1)(question="q")
    rollout_ids = [entry["kwargs"].get("rollout_id") for entry in lm.history]
    assert rollout_ids == [0, 1, 2, None, None, 0, 1, 2]
    temperatures = [entry["kwargs"].get("temperature") for entry in lm.history]
    assert temperatures == [0.7, 0.7, 0.7, None, None, 0.7, 0.7, 0.7]


def test_every_role_is_charged_and_the_roles_add_up_to_the_total():
    replies = [sample("ok"), sample("bad"), judge(5), judge(1), LOSS, GRADIENT, update("great"), update("x")]
    dspy.configure(lm=DummyLM([*replies, judge(9), judge(2)]))
    budget = Budget()
    with budget_scope(budget):
        prediction = _program(scorer="llm", samples=2, rounds=1)(question="q")
    spend = prediction.ttc_result.spend
    assert {role: line.calls for role, line in spend.by_role.items()} == {"generator": 4, "verifier": 4, "critic": 2}
    assert sum(line.total_tokens for line in spend.by_role.values()) == spend.total_tokens == budget.spent.total_tokens
    assert (prediction.answer, prediction.round_best_scores) == ("great", [0.5, 0.9])


def test_the_budget_stopping_mid_round_returns_the_best_so_far():
    dspy.configure(lm=DummyLM([sample("bad"), sample("good"), LOSS, GRADIENT, update("best"), update("best")]))
    budget = Budget(max_calls=4)  # 2 samples, the loss, the gradient; the rewrites are refused
    with budget_scope(budget):
        result = _program(samples=2, rounds=1)(question="q").ttc_result
    assert (result.stop_reason, result.output.answer) == ("budget", "good")
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "critic": 2}
    assert [c.budget_refused for c in result.candidates] == [False, False, True, True]


def test_a_budget_too_small_for_any_sample_raises_naming_the_limit():
    dspy.configure(lm=DummyLM([sample("ok")]))
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        _program()(question="q")


def test_nothing_scorable_raises_with_the_reason():
    dspy.configure(lm=DummyLM([sample("ok"), sample("good")]))
    with pytest.raises(AllCandidatesFailed, match="scoring failed: verifier returned str"):
        _program(scorer=lambda inputs, p: "great!", samples=2)(question="q")


def test_only_the_winner_and_what_guided_it_reach_the_callers_trace():
    dspy.configure(lm=DummyLM([sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("bad")]))
    program = _program(samples=2, rounds=1)
    trace = []
    with dspy.context(trace=trace):
        program(question="q")
    assert [predictor for predictor, _, _ in trace] == [program.loss, program.gradient, program.update]
    assert trace[-1][2].answer == "great"


@pytest.mark.parametrize(
    ("options", "message"),
    [({"samples": 1}, "samples must be an integer of at least 2"), ({"rounds": -1}, "rounds must be")],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        _program(**options)


async def test_aforward_gives_the_same_result():
    replies = [sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("ok")]
    program = _program(samples=2, rounds=1)
    with dspy.context(lm=DummyLM(replies)):
        expected = program(question="q")
    with dspy.context(lm=DummyLM(replies)):
        got = await program.acall(question="q")
    assert got.answer == expected.answer == "great"
    assert got.round_best_scores == expected.round_best_scores == [0.5, 0.9]
    assert [e.kind for e in got.ttc_result.events] == [e.kind for e in expected.ttc_result.events]


def test_a_call_changes_nothing_on_the_module():
    dspy.configure(lm=DummyLM([sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("ok")]))
    program = _program(samples=2, rounds=1)
    before, state = dict(vars(program)), program.dump_state()
    program(question="q")
    assert vars(program) == before
    assert program.dump_state() == state


def test_bootstrap_few_shot_attaches_demos_that_survive_save_and_load(tmp_path):
    dspy.configure(
        lm=DummyLM(
            [
                *[sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("bad")],  # a rewrite wins
                *[sample("good"), sample("bad"), LOSS, GRADIENT, update("ok"), update("bad")],  # a sample wins
            ]
        )
    )
    trainset = [
        dspy.Example(question="Describe the sea.", answer="great").with_inputs("question"),
        dspy.Example(question="Describe the sky.", answer="good").with_inputs("question"),
    ]
    optimizer = dspy.BootstrapFewShot(
        metric=lambda example, prediction, trace=None: prediction.answer == example.answer,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(_program(samples=2, rounds=1), trainset=trainset)
    # The winning rewrite teaches the loss, gradient and update; the samples it improved on teach nobody.
    assert [(d.question, d.better_score, d.worse_score, d.analysis) for d in compiled.loss.demos] == [
        ("Describe the sea.", 0.5, 0.1, "good is specific")
    ]
    assert "answer: ok" in compiled.loss.demos[0].better_response
    assert "answer: bad" in compiled.loss.demos[0].worse_response
    assert [(d.question, d.analysis, d.suggestions) for d in compiled.gradient.demos] == [
        ("Describe the sea.", "good is specific", "be specific")
    ]
    assert [(d.question, d.suggestions, d.answer) for d in compiled.update.demos] == [
        ("Describe the sea.", "be specific", "great")
    ]
    assert "answer: ok" in compiled.update.demos[0].best_response
    # A first-round sample that stayed best teaches the generator; the loss, gradient and rewrites after it do not.
    assert [(d.question, d.reasoning, d.answer) for d in compiled.generate.predict.demos] == [
        ("Describe the sky.", "thinking", "good")
    ]

    path = tmp_path / "tpo.json"
    compiled.save(str(path))
    loaded = _program(samples=2, rounds=1)
    loaded.load(str(path))
    for name, predictor in compiled.named_predictors():
        original = [demo.toDict() for demo in predictor.demos]
        assert [dict(demo) for demo in dict(loaded.named_predictors())[name].demos] == original
    lm = DummyLM([sample("ok"), sample("bad"), LOSS, GRADIENT, update("great"), update("bad")])
    with dspy.context(lm=lm):
        loaded(question="Describe the moon.")
    sample_request, _, loss_request, gradient_request, update_request, _ = (str(e["messages"]) for e in lm.history)
    assert "Describe the sky." in sample_request  # the loaded generator demo is in use
    assert "Describe the sea." not in sample_request  # the update's demo stays the update's
    assert all("Describe the sea." in request for request in (loss_request, gradient_request, update_request))
