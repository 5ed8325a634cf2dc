from ttc_plugins import Budget
from ttc_plugins.langgraph._run_budgets import RunBudgets


def test_a_run_budget_is_a_child_of_the_callers_so_limits_hold_and_spend_counts_in_both():
    parent = Budget(max_calls=1)
    runs = RunBudgets("sc")
    run = runs.open("a", parent)
    run.reserve(input_tokens=1, max_output_tokens=1).commit(1, 1)
    assert not run.can_afford(input_tokens=1, max_output_tokens=1)
    assert (run.name, run.parent, parent.spent.calls) == ("sc", parent, 1)


def test_without_a_caller_budget_a_run_still_gets_an_unlimited_ledger():
    run = RunBudgets("sc").open("a", None)
    assert (run.parent, run.limits) == (None, {})


def test_an_unknown_run_is_opened_anew_under_the_parent_and_closing_twice_is_harmless():
    parent = Budget()
    runs = RunBudgets("sc")
    assert runs.get("lost", parent).parent is parent
    assert runs.get("lost", parent) is runs.close("lost")
    assert runs.close("lost") is None


def test_unfinished_runs_are_dropped_oldest_first_past_the_capacity():
    runs = RunBudgets("sc", capacity=2)
    first, second, third = (runs.open(run_id, None) for run_id in ("a", "b", "c"))
    assert runs.close("a") is None
    assert (runs.close("b"), runs.close("c")) == (second, third)
    assert first is not second
