import pytest

from ttc_plugins import Budget, BudgetExceeded, ModelPrice, budget_role, budget_scope, current_budget, current_role
from ttc_plugins import budget as budget_module


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_total_tokens", 0),
        ("max_total_tokens", -5),
        ("max_input_tokens", -1),
        ("max_output_tokens", 0),
        ("max_calls", -3),
        ("max_calls", 2.5),
        ("max_calls", True),
        ("max_cost_usd", -0.01),
        ("max_cost_usd", 0),
        ("max_cost_usd", float("nan")),
        ("max_seconds", -1),
        ("max_seconds", float("inf")),
    ],
)
def test_bad_limits_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Budget(**{field: value})


def test_bad_default_output_cap_is_rejected():
    with pytest.raises(ValueError, match="default_max_output_tokens"):
        Budget(default_max_output_tokens=0)


@pytest.mark.parametrize(
    ("prices", "fragment"),
    [
        ({"gpt": (-1.0, 2.0)}, "prices['gpt'].input_per_million must not be negative"),
        ({"gpt": (1.0, -2.0)}, "prices['gpt'].output_per_million must not be negative"),
        ({"gpt": {"input_per_million": "cheap", "output_per_million": 1}}, "must be a number"),
        ({"gpt": 3.0}, "prices['gpt'] must be"),
    ],
)
def test_bad_prices_are_rejected_naming_the_entry(prices, fragment):
    with pytest.raises(ValueError) as error:
        Budget(prices=prices)
    assert fragment in str(error.value)


def test_reserve_then_commit_records_actual_usage_and_frees_the_rest():
    budget = Budget(max_total_tokens=1_000)
    call = budget.reserve(input_tokens=100, max_output_tokens=400, model="m")
    assert budget.remaining.total_tokens == 500  # the in-flight worst case counts as used
    call.commit(input_tokens=90, output_tokens=30)
    assert budget.remaining.total_tokens == 880
    spend = budget.spent
    assert (spend.input_tokens, spend.output_tokens, spend.total_tokens, spend.calls) == (90, 30, 120, 1)
    assert spend.by_model["m"].total_tokens == 120


def test_commit_without_input_keeps_the_counted_estimate():
    budget = Budget()
    budget.reserve(input_tokens=77, max_output_tokens=10).commit(None, 4)
    assert budget.spent.input_tokens == 77


def test_release_frees_everything_and_counts_a_failed_call():
    budget = Budget(max_calls=1)
    call = budget.reserve(input_tokens=10, max_output_tokens=10)
    assert not budget.can_afford(1, 1)
    call.release()
    assert budget.can_afford(1, 1)
    assert budget.spent.calls == 0
    assert budget.spent.failed_calls == 1


def test_reservation_context_manager_releases_on_error():
    budget = Budget(max_total_tokens=100)
    with pytest.raises(ZeroDivisionError), budget.reserve(input_tokens=50, max_output_tokens=50):
        raise ZeroDivisionError
    assert budget.remaining.total_tokens == 100
    assert budget.spent.failed_calls == 1


def test_a_reservation_settles_only_once():
    budget = Budget()
    call = budget.reserve(input_tokens=1, max_output_tokens=1)
    call.commit(1, 1)
    with pytest.raises(RuntimeError, match="already committed"):
        call.commit(1, 1)
    with pytest.raises(RuntimeError, match="already committed"):
        call.release()


def test_refusal_names_the_limit_the_usage_the_request_and_the_shortfall():
    budget = Budget(max_total_tokens=1_000)
    budget.reserve(input_tokens=500, max_output_tokens=300).commit(500, 300)
    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(input_tokens=150, max_output_tokens=100)
    error = refused.value
    assert (error.limit, error.maximum, error.used, error.requested, error.shortfall) == (
        "max_total_tokens",
        1_000,
        800,
        250,
        50,
    )
    assert str(error) == (
        "max_total_tokens=1,000 would be exceeded: 800 already used or reserved, this call needs up to "
        "250 tokens (150 prompt + 100 max output tokens); short by 50."
    )
    assert budget.spent.calls == 1  # the refused call left no trace


def test_a_budget_too_small_for_one_call_says_by_how_much():
    budget = Budget(max_output_tokens=100)
    with pytest.raises(BudgetExceeded, match=r"max_output_tokens=100 .* short by 412") as refused:
        budget.reserve(input_tokens=5)  # no cap given: the default 512 is reserved
    assert refused.value.shortfall == 412


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        ({"max_input_tokens": 100}, "max_input_tokens"),
        ({"max_output_tokens": 100}, "max_output_tokens"),
        ({"max_calls": 2}, "max_calls"),
    ],
)
def test_each_limit_refuses_the_call_that_would_cross_it(limits, limit):
    budget = Budget(**limits)
    budget.reserve(input_tokens=60, max_output_tokens=60).commit(60, 60)
    with pytest.raises(BudgetExceeded) as refused:
        for _ in range(3):
            budget.reserve(input_tokens=60, max_output_tokens=60).commit(60, 60)
    assert refused.value.limit == limit


def test_usage_above_the_reservation_is_recorded_and_stops_further_calls():
    budget = Budget(max_total_tokens=100)
    budget.reserve(input_tokens=10, max_output_tokens=40).commit(input_tokens=30, output_tokens=80)
    assert budget.spent.total_tokens == 110  # the provider's truth, not the estimate
    assert budget.exhausted
    assert not budget.can_afford(0, 1)


def test_default_output_cap_is_configurable():
    budget = Budget(max_total_tokens=200, default_max_output_tokens=100)
    call = budget.reserve(input_tokens=50)
    assert call.output_tokens == 100
    assert budget.remaining.total_tokens == 50


def test_cost_is_priced_per_model_and_unknown_prices_stay_unknown():
    budget = Budget(
        prices={"gpt-4o-mini": (0.15, 0.60), "big": ModelPrice(input_per_million=10, output_per_million=30)}
    )
    budget.reserve(1_000_000, 0, model="gpt-4o-mini").commit(1_000_000, 0)
    budget.reserve(0, 1_000_000, model="openai/big").commit(0, 1_000_000)  # provider prefix is ignored
    assert budget.spent.cost_usd == pytest.approx(30.15)
    budget.reserve(10, 10, model="mystery").commit(10, 10)
    spend = budget.spent
    assert spend.cost_usd is None  # one call could not be priced: the total is unknown, not guessed
    assert spend.by_model["gpt-4o-mini"].cost_usd == pytest.approx(0.15)
    assert spend.by_model["mystery"].cost_usd is None


def test_without_prices_cost_is_unknown():
    budget = Budget()
    budget.reserve(10, 10).commit(10, 10)
    assert budget.spent.cost_usd is None


def test_cost_limit_refuses_what_it_cannot_price_and_what_it_cannot_afford():
    budget = Budget(max_cost_usd=1.0, prices={"m": (1.0, 1.0)})
    with pytest.raises(BudgetExceeded, match="no price is known for model 'other'") as refused:
        budget.reserve(10, 10, model="other")
    assert refused.value.requested is None
    budget.reserve(600_000, 0, model="m").commit(600_000, 0)
    with pytest.raises(BudgetExceeded, match="max_cost_usd=1") as refused:
        budget.reserve(300_000, 200_000, model="m")
    assert refused.value.shortfall == pytest.approx(0.1)


def test_time_limit_is_checked_before_each_call(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock[0])
    budget = Budget(max_seconds=30)
    budget.reserve(1, 1).commit(1, 1)  # the clock starts at the first call
    clock[0] += 29
    budget.reserve(1, 1).commit(1, 1)
    assert budget.spent.seconds == 29
    clock[0] += 2
    with pytest.raises(BudgetExceeded, match="max_seconds=30") as refused:
        budget.reserve(1, 1)
    assert refused.value.limit == "max_seconds"
    assert budget.exhausted


def test_roles_tag_calls_and_default_to_generator():
    budget = Budget()
    budget.reserve(10, 5).commit(10, 5)
    with budget_role("verifier"):
        assert current_role() == "verifier"
        budget.reserve(20, 5).commit(20, 5)
        with budget_role("critic"):
            budget.reserve(30, 5).commit(30, 5)
    assert current_role() == "generator"
    by_role = budget.spent.by_role
    assert {role: line.input_tokens for role, line in by_role.items()} == {
        "generator": 10,
        "verifier": 20,
        "critic": 30,
    }


def test_role_name_must_not_be_empty():
    with pytest.raises(ValueError, match="role"), budget_role(" "):
        pass


def test_child_budget_caps_the_subtask_and_counts_in_the_parent():
    parent = Budget(max_total_tokens=1_000, name="request")
    child = parent.child(max_total_tokens=100, name="verify")
    child.reserve(40, 20).commit(40, 20)
    assert parent.spent.total_tokens == 60
    with pytest.raises(BudgetExceeded, match="of budget 'verify'") as refused:
        child.reserve(40, 20)
    assert refused.value.budget_name == "verify"
    assert parent.can_afford(40, 20)


def test_parent_limit_stops_the_child_too():
    parent = Budget(max_calls=2)
    child = parent.child(max_total_tokens=10_000)
    parent.reserve(1, 1).commit(1, 1)
    child.reserve(1, 1).commit(1, 1)
    with pytest.raises(BudgetExceeded) as refused:
        child.reserve(1, 1)
    assert refused.value.limit == "max_calls"
    assert child.exhausted


def test_child_reservation_is_held_in_the_parent_until_settled():
    parent = Budget(max_total_tokens=100)
    child = parent.child()
    call = child.reserve(30, 30)
    assert parent.remaining.total_tokens == 40
    call.release()
    assert parent.remaining.total_tokens == 100


def test_budget_scope_makes_the_budget_current_and_nests():
    outer, inner = Budget(name="outer"), Budget(name="inner")
    assert current_budget() is None
    with budget_scope(outer):
        assert current_budget() is outer
        with budget_scope(inner):
            assert current_budget() is inner
        assert current_budget() is outer
    assert current_budget() is None


def test_budget_scope_rejects_what_is_not_a_budget():
    with pytest.raises(TypeError, match=r"needs a ttc_plugins\.Budget"), budget_scope({"max_calls": 3}):
        pass


def test_report_shows_roles_totals_and_limits():
    budget = Budget(max_total_tokens=1_000, max_calls=10, prices={"m": (1.0, 2.0)})
    budget.reserve(100, 50, model="m").commit(100, 50)
    with budget_role("verifier"):
        budget.reserve(200, 10, model="m").commit(200, 10)
    lines = budget.report().splitlines()
    assert lines[0].split() == ["role", "calls", "input", "output", "total", "cost"]
    assert lines[1].split() == ["generator", "1", "100", "50", "150", "$0.0002"]
    assert lines[2].split() == ["verifier", "1", "200", "10", "210", "$0.0002"]
    assert lines[3].split() == ["total", "2", "300", "60", "360", "$0.0004"]
    assert lines[4] == "limits: max_total_tokens 1,000 (640 left), max_calls 10 (8 left)"
