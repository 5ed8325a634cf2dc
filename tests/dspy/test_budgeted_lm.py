import asyncio

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from tests.dspy.fakes import UsageEngine, usage_lm
from tests.reservations import record_reservations
from ttc_plugins import Budget, BudgetExceeded, budget_role, budget_scope, count_tokens
from ttc_plugins.dspy import BudgetedLM


def _calls_that_fit(limit, prompt_tokens, cap, committed_per_call):
    calls = 0
    while calls * committed_per_call + prompt_tokens + cap <= limit:
        calls += 1
    return calls


def test_an_unmodified_program_inside_a_scope_stops_at_the_call_that_would_cross_the_limit():
    engine = UsageEngine(input_tokens=17, output_tokens=3)
    lm = usage_lm(engine, max_tokens=20)
    dspy.configure(lm=lm)
    program = dspy.Predict("question -> answer")
    budget = Budget(max_total_tokens=300)
    answered = 0
    with budget_scope(budget), pytest.raises(BudgetExceeded) as refused:
        for _ in range(100):
            assert program(question="What is 2 + 2?").answer == "4"
            answered += 1
    prompt = count_tokens(lm.history[0]["messages"], lm.model)
    assert answered == _calls_that_fit(300, prompt, cap=20, committed_per_call=20)
    assert engine.calls == answered  # the refused call never reached the provider
    assert refused.value.limit == "max_total_tokens"
    spend = budget.spent
    assert (spend.calls, spend.input_tokens, spend.output_tokens) == (answered, 17 * answered, 3 * answered)
    assert spend.by_model["openai/fake-usage"].calls == answered


def test_after_the_scope_the_configured_lm_is_the_users_again():
    lm = usage_lm(UsageEngine())
    dspy.configure(lm=lm)
    with budget_scope(Budget()):
        assert isinstance(dspy.settings.lm, BudgetedLM)
    assert dspy.settings.lm is lm


def test_dummy_lm_reports_no_usage_so_the_text_is_counted():
    lm = DummyLM([{"answer": "blue"}])
    dspy.configure(lm=lm)
    budget = Budget()
    with budget_scope(budget):
        dspy.Predict("question -> answer")(question="What colour is the sky?")
    entry = lm.history[-1]
    assert budget.spent.input_tokens == count_tokens(entry["messages"], lm.model)
    assert budget.spent.output_tokens == count_tokens(entry["outputs"][0], lm.model)


def test_calls_in_dspy_parallel_threads_are_all_counted():
    engine = UsageEngine()
    dspy.configure(lm=usage_lm(engine))
    program = dspy.Predict("question -> answer")
    budget = Budget()
    with budget_scope(budget):
        parallel = dspy.Parallel(num_threads=4, disable_progress_bar=True)
        results = parallel([(program, {"question": f"q{i}"}) for i in range(8)])
    assert [r.answer for r in results] == ["4"] * 8
    assert (budget.spent.calls, budget.spent.input_tokens, engine.calls) == (8, 8 * 17, 8)


def test_dspy_parallel_is_stopped_at_the_limit():
    engine = UsageEngine()
    dspy.configure(lm=usage_lm(engine))
    program = dspy.Predict("question -> answer")
    budget = Budget(max_calls=5)
    with budget_scope(budget):
        parallel = dspy.Parallel(num_threads=4, max_errors=20, disable_progress_bar=True)
        results = parallel([(program, {"question": f"q{i}"}) for i in range(8)])
    assert sum(r is not None for r in results) == 5
    assert engine.calls == budget.spent.calls == 5


def test_roles_reach_dspy_worker_threads():
    dspy.configure(lm=usage_lm(UsageEngine()))
    program = dspy.Predict("question -> answer")
    budget = Budget()
    with budget_scope(budget), budget_role("verifier"):
        dspy.Parallel(num_threads=2, disable_progress_bar=True)([(program, {"question": "q"})] * 3)
    assert list(budget.spent.by_role) == ["verifier"]


async def test_async_calls_are_counted_and_stopped():
    engine = UsageEngine()
    dspy.configure(lm=usage_lm(engine))
    program = dspy.Predict("question -> answer")
    budget = Budget(max_calls=2)
    with budget_scope(budget):
        await program.acall(question="q")
        await asyncio.gather(program.acall(question="a"))
        with pytest.raises(BudgetExceeded, match="max_calls=2"):
            await program.acall(question="q")
    assert engine.calls == budget.spent.calls == 2


def test_a_failing_call_releases_its_reservation():
    engine = UsageEngine(fail_first=1)
    dspy.configure(lm=usage_lm(engine))
    program = dspy.Predict("question -> answer")
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        with pytest.raises(Exception, match="provider error"):
            program(question="q")
        assert budget.remaining.total_tokens == 10_000
        program(question="q")
    assert (budget.spent.calls, budget.spent.failed_calls) == (1, 1)


def test_track_usage_still_sees_the_calls():
    dspy.configure(lm=usage_lm(UsageEngine()), track_usage=True)
    budget = Budget()
    with budget_scope(budget):
        prediction = dspy.Predict("question -> answer")(question="q")
    usage = prediction.get_lm_usage()["openai/fake-usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (17, 3)
    assert budget.spent.total_tokens == 20


def test_nested_scopes_charge_the_innermost_budget_once():
    dspy.configure(lm=usage_lm(UsageEngine()))
    program = dspy.Predict("question -> answer")
    parent = Budget()
    child = parent.child(max_calls=1)
    with budget_scope(parent):
        with budget_scope(child):
            program(question="q")
        program(question="q")
    assert (child.spent.calls, parent.spent.calls, parent.spent.total_tokens) == (1, 2, 40)


def test_explicit_wrapping_a_predictors_own_lm():
    engine = UsageEngine()
    budget = Budget(max_calls=1)
    program = dspy.Predict("question -> answer")
    program.lm = BudgetedLM(usage_lm(engine), budget)
    program(question="q")
    with pytest.raises(BudgetExceeded):
        program(question="q")
    assert engine.calls == 1


def test_copies_stay_budgeted_and_rewrapping_does_not_charge_twice():
    budget = Budget()
    lm = BudgetedLM(BudgetedLM(usage_lm(UsageEngine()), budget), budget)
    assert not isinstance(lm.lm, BudgetedLM)
    copy = lm.copy(rollout_id=3, temperature=1.0)
    assert isinstance(copy, BudgetedLM) and copy.budget is budget
    assert copy.kwargs["rollout_id"] == 3
    copy("hi")
    assert budget.spent.calls == 1


def test_wrapping_something_that_is_not_an_lm_is_a_clear_error():
    with pytest.raises(TypeError, match=r"wraps a dspy\.BaseLM, got str"):
        BudgetedLM("openai/gpt-4o", Budget())


def test_lm15_requests_are_reserved_with_their_own_output_cap():
    from dspy.lm15 import Config, Message, Request

    engine = UsageEngine()
    lm = usage_lm(engine, max_tokens=20)
    request = Request(model=lm.model, messages=(Message.user("hi"),), config=Config(max_tokens=7))
    prompt = count_tokens([{"role": "user", "content": "hi"}], lm.model)
    budget = Budget(max_total_tokens=prompt + 6)  # one short of prompt + the request's cap of 7
    with pytest.raises(BudgetExceeded, match="short by 1"):
        BudgetedLM(lm, budget)(request)
    assert engine.calls == 0


def test_the_wrapper_adds_no_deprecation_warning_to_adapter_calls(recwarn):
    dspy.configure(lm=usage_lm(UsageEngine()))
    with budget_scope(Budget()):
        dspy.Predict("question -> answer")(question="q")
    assert not [w for w in recwarn if "messages=" in str(w.message)]


def test_32_concurrent_dspy_calls_spend_at_most_the_limit():
    engine = UsageEngine(input_tokens=17, output_tokens=3)
    dspy.configure(lm=usage_lm(engine, max_tokens=20))
    program = dspy.Predict("question -> answer")
    budget = Budget(max_total_tokens=400)
    with budget_scope(budget):
        parallel = dspy.Parallel(num_threads=32, max_errors=64, disable_progress_bar=True)
        results = parallel([(program, {"question": f"q{i}"}) for i in range(32)])
    answered = sum(r is not None for r in results)
    assert budget.spent.total_tokens <= 400
    assert budget.spent.calls == engine.calls == answered
    assert 0 < answered < 32


def test_a_budget_the_user_attached_to_the_lm_is_still_charged_inside_a_scope():
    mine = Budget()
    dspy.configure(lm=BudgetedLM(usage_lm(UsageEngine()), mine))
    scope = Budget()
    with budget_scope(scope):
        dspy.Predict("question -> answer")(question="q")
    assert (mine.spent.calls, scope.spent.calls) == (1, 1)


def test_what_the_server_adds_to_the_prompt_is_learned_and_reserved_from_then_on():
    engine = UsageEngine(input_tokens=900, output_tokens=3)  # far more than the messages count
    lm = BudgetedLM(usage_lm(engine, max_tokens=20))
    budget = Budget()
    granted = record_reservations(budget)
    with budget_scope(budget):
        lm("What is 2 + 2?")
        lm("What is 2 + 2?")
    assert granted[0].input_tokens < 900
    assert granted[1].input_tokens == 900
