import dspy
import pytest
from dspy.utils.dummies import DummyLM

from tests.budgets import budget_with_calls_left
from tests.dspy.fakes import UsageEngine, usage_lm
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.dspy import SelfConsistency


def _replies(*answers):
    """DummyLM replies for ChainOfThought("question -> answer"), one per call, in order."""
    return DummyLM([{"reasoning": f"thinking about {answer}", "answer": answer} for answer in answers])


def _rollout_ids(lm):
    return sorted(entry["kwargs"]["rollout_id"] for entry in lm.history)


def test_the_majority_answer_wins_and_the_prediction_is_the_winning_samples():
    dspy.configure(lm=_replies("8", "7", "so it is 7.", "9", "7"))
    prediction = SelfConsistency("question -> answer", n=5, num_threads=1)(question="What is 3 + 4?")
    result = prediction.ttc_result
    assert isinstance(result, TTCResult)
    assert [c.answer for c in result.candidates] == ["8", "7", "7", "9", "7"]
    assert [c.votes for c in result.candidates] == [1, 3, 3, 1, 3]
    assert (result.answer, result.chosen, result.stop_reason) == ("7", 1, "done")
    assert (prediction.answer, prediction.reasoning) == ("7", "thinking about 7")
    assert result.output is result.candidates[1].output


def test_a_tie_goes_to_the_answer_that_came_first():
    dspy.configure(lm=_replies("5", "6", "6", "5"))
    result = SelfConsistency("question -> answer", n=4, num_threads=1)(question="q").ttc_result
    assert (result.answer, result.chosen) == ("5", 0)
    assert [c.votes for c in result.candidates] == [2, 2, 2, 2]


def test_each_sample_is_one_call_with_its_own_rollout_id_and_the_temperature():
    lm = _replies(*["4"] * 6)
    dspy.configure(lm=lm)
    SelfConsistency("question -> answer", n=6, num_threads=4, temperature=0.9)(question="q")
    assert len(lm.history) == 6
    assert _rollout_ids(lm) == [0, 1, 2, 3, 4, 5]
    assert {entry["kwargs"]["temperature"] for entry in lm.history} == {0.9}


def test_rollout_ids_come_from_the_block_of_the_lms_own_rollout_id():
    lm = _replies(*["4"] * 3).copy(rollout_id=100)
    dspy.configure(lm=lm)
    SelfConsistency("question -> answer", n=3)(question="q")
    assert _rollout_ids(lm) == [100_000, 100_001, 100_002]


def test_a_callers_own_config_is_honoured_and_its_rollout_id_picks_the_block():
    lm = _replies(*["4"] * 3)
    dspy.configure(lm=lm)
    SelfConsistency("question -> answer", n=3)(question="q", config={"rollout_id": 50, "temperature": 0.2})
    assert _rollout_ids(lm) == [50_000, 50_001, 50_002]
    assert {entry["kwargs"]["temperature"] for entry in lm.history} == {0.2}


def test_an_lm_passed_with_the_call_is_used_and_charged():
    engine = UsageEngine(reasoning="r")
    result = SelfConsistency("question -> answer", n=2)(question="q", lm=usage_lm(engine)).ttc_result
    assert engine.calls == result.spend.calls == 2


def test_samples_of_a_wave_run_in_parallel_up_to_num_threads():
    engine = UsageEngine(reasoning="r", delay=0.1)
    dspy.configure(lm=usage_lm(engine))
    SelfConsistency("question -> answer", n=6, num_threads=3)(question="q")
    assert (engine.calls, engine.peak_active) == (6, 3)


def test_adaptive_stops_once_the_vote_cannot_change():
    lm = _replies(*["4"] * 10)
    dspy.configure(lm=lm)
    result = SelfConsistency("question -> answer", n=10, adaptive=True)(question="q").ttc_result
    assert result.stop_reason == "converged"
    assert len(result.candidates) == len(lm.history) == 7  # 3, 5, 7: at 7 the lead exceeds the 3 left
    assert _rollout_ids(lm) == list(range(7))


def test_adaptive_keeps_sampling_while_the_vote_is_split():
    lm = _replies(*["1", "2"] * 5)
    dspy.configure(lm=lm)
    result = SelfConsistency("question -> answer", n=10, adaptive=True, num_threads=1)(question="q").ttc_result
    assert (result.stop_reason, len(result.candidates), len(lm.history)) == ("done", 10, 10)


def test_a_sample_that_fails_to_parse_is_kept_as_a_failure_and_the_survivors_vote():
    lm = DummyLM(
        [{"reasoning": "r", "answer": "2"}, {"reasoning": "no answer field"}, {"reasoning": "r", "answer": "3"}]
    )
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False))  # one call per sample
    result = SelfConsistency("question -> answer", n=3, num_threads=1)(question="q").ttc_result
    assert len(lm.history) == 3
    assert [c.index for c in result.failures] == [1]
    assert result.failures[0].error.startswith("AdapterParseError")
    assert [c.answer for c in result.candidates] == ["2", None, "3"]
    assert (result.answer, result.chosen, result.stop_reason) == ("2", 0, "done")


def test_when_every_sample_fails_the_first_failure_is_in_the_error():
    dspy.configure(lm=usage_lm(UsageEngine(fail_first=10, reasoning="r")))
    first = (
        r"all 3 candidates failed; the first failure: LMUnexpectedError: \[openai/fake-usage\] provider error on call 1"
    )
    with pytest.raises(AllCandidatesFailed, match=first) as failed:
        SelfConsistency("question -> answer", n=3, num_threads=1)(question="q")
    assert "provider error on call 1" in str(failed.value.__cause__)


def test_the_budget_stops_sampling_and_the_vote_uses_what_was_affordable():
    lm = _replies("5", "6", "5", "6", "6")
    dspy.configure(lm=lm)
    budget = budget_with_calls_left(8, 3)
    with budget_scope(budget):
        result = SelfConsistency("question -> answer", n=8, num_threads=1)(question="q").ttc_result
    assert len(lm.history) == 3
    assert (result.stop_reason, result.answer) == ("budget", "5")
    assert [c.budget_refused for c in result.candidates] == [False] * 3 + [True] * 5
    assert (budget.spent.calls, result.spend.calls) == (8, 3)


def test_the_budget_holds_when_the_samples_run_in_parallel():
    engine = UsageEngine(reasoning="r")
    dspy.configure(lm=usage_lm(engine))
    budget = budget_with_calls_left(8, 3)
    with budget_scope(budget):
        result = SelfConsistency("question -> answer", n=8, num_threads=8)(question="q").ttc_result
    assert (engine.calls, budget.spent.calls) == (3, 8)
    assert (result.stop_reason, sum(c.budget_refused for c in result.candidates)) == ("budget", 5)


def test_a_budget_too_small_for_one_sample_raises_naming_the_limit():
    engine = UsageEngine(reasoning="r")
    dspy.configure(lm=usage_lm(engine, max_tokens=20))
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        SelfConsistency("question -> answer", n=4)(question="q")
    assert engine.calls == 0


def test_the_reported_spend_is_what_the_outer_budget_saw_and_each_candidate_has_its_tokens():
    dspy.configure(lm=usage_lm(UsageEngine(reasoning="r", input_tokens=17, output_tokens=3)))
    budget = Budget()
    with budget_scope(budget):
        budget.reserve(5, 5).commit(5, 5)  # spent before the strategy ran: not the run's
        result = SelfConsistency("question -> answer", n=4)(question="q").ttc_result
    assert (result.spend.calls, result.spend.input_tokens, result.spend.output_tokens) == (4, 68, 12)
    assert (budget.spent.calls, budget.spent.total_tokens) == (5, 10 + result.spend.total_tokens)
    assert [(c.input_tokens, c.output_tokens) for c in result.candidates] == [(17, 3)] * 4


def test_outside_any_budget_scope_the_spend_is_still_reported():
    dspy.configure(lm=usage_lm(UsageEngine(reasoning="r")))
    result = SelfConsistency("question -> answer", n=3)(question="q").ttc_result
    assert (result.spend.calls, result.spend.input_tokens) == (3, 51)


def test_a_predictors_own_lm_is_charged_too():
    engine = UsageEngine(reasoning="r")
    program = SelfConsistency("question -> answer", n=3)
    program.generate.predict.lm = usage_lm(engine)
    budget = Budget()
    with budget_scope(budget):
        result = program(question="q").ttc_result
    assert engine.calls == budget.spent.calls == result.spend.calls == 3


def test_track_usage_sees_every_sample():
    dspy.configure(lm=usage_lm(UsageEngine(reasoning="r")), track_usage=True)
    prediction = SelfConsistency("question -> answer", n=4, num_threads=4)(question="q")
    usage = prediction.get_lm_usage()["openai/fake-usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (68, 12)


async def test_aforward_gives_the_same_result():
    answers = ("7", "8", "7", "7", "9")
    program = SelfConsistency("question -> answer", n=5)
    sync_lm, async_lm = _replies(*answers), _replies(*answers)
    with dspy.context(lm=sync_lm):
        expected = program(question="q")
    with dspy.context(lm=async_lm):
        got = await program.acall(question="q")
    assert got.answer == expected.answer == "7"
    assert (got.ttc_result.stop_reason, got.ttc_result.spend.calls) == ("done", 5)
    assert sorted(c.answer for c in got.ttc_result.candidates) == sorted(answers)
    assert _rollout_ids(async_lm) == _rollout_ids(sync_lm) == [0, 1, 2, 3, 4]


async def test_aforward_obeys_the_budget():
    engine = UsageEngine(reasoning="r")
    budget = budget_with_calls_left(8, 3)
    with dspy.context(lm=usage_lm(engine)), budget_scope(budget):  # configure() belongs to the first task only
        result = (await SelfConsistency("question -> answer", n=8).acall(question="q")).ttc_result
    assert (engine.calls, budget.spent.calls) == (3, 8)
    assert (result.stop_reason, sum(c.budget_refused for c in result.candidates)) == ("budget", 5)


def test_optimizers_find_the_sampler():
    assert [name for name, _ in SelfConsistency("question -> answer").named_predictors()] == ["generate.predict"]
    plain = SelfConsistency("question -> answer", chain_of_thought=False)
    assert [name for name, _ in plain.named_predictors()] == ["generate"]


def test_only_samples_that_gave_the_winning_answer_reach_the_callers_trace():
    dspy.configure(lm=_replies("5", "4", "4"))
    program = SelfConsistency("question -> answer", n=3, num_threads=1)
    trace = []
    with dspy.context(trace=trace):
        program(question="q")
    assert [outputs.answer for _, _, outputs in trace] == ["4", "4"]
    assert all(predictor is program.generate.predict for predictor, _, _ in trace)  # reused, never a copy


def test_bootstrap_few_shot_attaches_demos_that_survive_save_and_load(tmp_path):
    dspy.configure(lm=_replies(*["5", "4", "4"] * 10))
    trainset = [dspy.Example(question=f"What is {i} + 4 - {i}?", answer="4").with_inputs("question") for i in range(3)]
    optimizer = dspy.BootstrapFewShot(
        metric=lambda example, prediction, trace=None: prediction.answer == example.answer,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(SelfConsistency("question -> answer", n=3), trainset=trainset)
    demos = compiled.generate.predict.demos
    assert len(demos) == 2
    assert [demo.answer for demo in demos] == ["4", "4"]
    path = tmp_path / "self_consistency.json"
    compiled.save(str(path))
    loaded = SelfConsistency("question -> answer", n=3)
    loaded.load(str(path))
    fields = ("question", "reasoning", "answer")
    assert [[d[f] for f in fields] for d in loaded.generate.predict.demos] == [[d[f] for f in fields] for d in demos]
    lm = _replies("4")
    with dspy.context(lm=lm):
        loaded.generate(question="What is 9 + 4 - 9?")
    prompt = str(lm.history[0]["messages"])
    assert all(demo["question"] in prompt for demo in demos)  # the loaded demos are in use


def test_a_call_changes_nothing_on_the_module():
    dspy.configure(lm=_replies("1", "2", "1"))
    program = SelfConsistency("question -> answer", n=3)
    before = dict(vars(program))
    state = program.dump_state()
    program(question="q")
    assert vars(program) == before
    assert program.dump_state() == state


def test_answer_field_chooses_what_is_voted_on():
    replies = [{"answer": a, "note": "same note"} for a in ("1", "2", "2")]
    dspy.configure(lm=DummyLM(replies))
    program = SelfConsistency(
        "question -> answer, note", n=3, answer_field="answer", chain_of_thought=False, num_threads=1
    )
    result = program(question="q").ttc_result
    assert (result.answer, [c.votes for c in result.candidates]) == ("2", [1, 2, 2])


def test_the_default_answer_field_is_the_last_output_field():
    replies = [{"answer": a, "note": "same note"} for a in ("1", "2", "2")]
    dspy.configure(lm=DummyLM(replies))
    result = SelfConsistency("question -> answer, note", n=3, chain_of_thought=False, num_threads=1)(
        question="q"
    ).ttc_result
    assert (result.answer, result.chosen) == ("same note", 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"wave_size": 0}, "wave_size must be a positive integer"),
        ({"num_threads": 0}, "num_threads must be a positive integer"),
        ({"answer_field": "nope"}, "answer_field 'nope' is not an output field"),
    ],
)
def test_bad_options_fail_when_the_module_is_built(options, message):
    with pytest.raises(ValueError, match=message):
        SelfConsistency("question -> answer", **options)


class _ToolWithItsOwnCap(dspy.Module):
    """A sample whose second run calls a tool under the tool's own capped budget, which refuses."""

    def __init__(self):
        super().__init__()
        self.runs = 0

    def forward(self, **inputs):
        from ttc_plugins import current_budget

        self.runs += 1
        if self.runs == 2:
            cap = current_budget().child(max_calls=1, name="tool cap")
            cap.reserve(1, 1).commit(1, 1)
            cap.reserve(1, 1)  # refused by the tool's own budget, not the run's
        return dspy.Prediction(reasoning="r", answer="7")


def test_a_refusal_from_a_samples_own_nested_budget_fails_that_sample_not_the_run():
    program = SelfConsistency("question -> answer", n=4, num_threads=1)
    program.generate = _ToolWithItsOwnCap()
    with budget_scope(Budget(max_calls=100)):
        result = program(question="q").ttc_result
    assert (result.answer, result.stop_reason, len(result.candidates)) == ("7", "done", 4)
    refused = result.candidates[1]
    assert refused.error.startswith("BudgetExceeded:") and not refused.budget_refused
