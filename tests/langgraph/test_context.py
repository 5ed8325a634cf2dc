from dataclasses import dataclass

import pytest

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langgraph import TTCContext
from ttc_plugins.langgraph.context import budget_for_run, strategy_run_budget


@dataclass
class AppContext:
    user: str
    budget: float  # the application's own notion of a budget, in dollars


def test_a_ttc_context_takes_only_a_budget():
    with pytest.raises(TypeError, match=r"TTCContext\.budget must be a ttc_plugins\.Budget, got int"):
        TTCContext(budget=100)


def test_the_context_budget_comes_before_the_scope_and_a_foreign_budget_field_is_ignored():
    outer, explicit = Budget(name="outer"), Budget(name="explicit")
    with budget_scope(outer):
        assert budget_for_run(TTCContext(budget=explicit)) is explicit
        assert budget_for_run({"budget": explicit}) is explicit
        assert budget_for_run(AppContext(user="ada", budget=2.5)) is outer
        assert budget_for_run(TTCContext()) is outer
    assert budget_for_run(None) is None


def test_a_strategy_run_budget_is_a_child_of_the_context_budget():
    explicit = Budget(max_calls=1)
    with strategy_run_budget(TTCContext(budget=explicit), "run") as run:
        run.reserve(input_tokens=1, max_output_tokens=1).commit(1, 1)
        assert not run.can_afford(input_tokens=1, max_output_tokens=1)
    assert (run.parent, run.name, explicit.spent.calls) == (explicit, "run", 1)
