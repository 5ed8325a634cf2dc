import itertools
import threading
from typing import TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime

from tests.budgets import budget_with_calls_left
from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.langgraph import TTCContext, TTCResultField, sampled_node

ONE_AT_A_TIME = {"max_concurrency": 1}


class State(TypedDict, total=False):
    question: str
    answer: str
    steps: int
    ttc_result: TTCResultField


class StateWithoutResult(TypedDict, total=False):
    question: str
    answer: str


def _graph(node, state=State, checkpointer=None):
    builder = StateGraph(state)
    builder.add_node("solve", node)
    builder.add_edge(START, "solve")
    return builder.compile(checkpointer=checkpointer)


def _scripted_node(answers):
    """A node whose runs answer in turn, each update also saying which run it was."""
    replies, lock = iter(answers), threading.Lock()
    count = itertools.count()

    def solve(state):
        with lock:
            return {"answer": next(replies), "steps": next(count)}

    return solve


def _model_node(model):
    def solve(state):
        return {"answer": model.invoke(state["question"]).content}

    return solve


def test_the_majority_update_is_returned_whole_with_the_result():
    node = sampled_node(_scripted_node(["Answer: 8", "Answer: 7", "so 7.", "Answer: 9", "7"]), n=5)
    out = _graph(node).invoke({"question": "q"}, ONE_AT_A_TIME)
    result = out["ttc_result"]
    assert (out["answer"], out["steps"]) == ("Answer: 7", 1)  # the first update with the winning answer
    assert [c.answer for c in result.candidates] == ["8", "7", "7", "9", "7"]
    assert [c.votes for c in result.candidates] == [1, 3, 3, 1, 3]
    assert (result.chosen, result.stop_reason) == (1, "done")


def test_bare_answers_are_voted_on_as_they_are_and_ties_go_to_the_earliest():
    node = sampled_node(_scripted_node(["Lyon", "Paris", " paris", "lyon"]), n=4)
    out = _graph(node).invoke({"question": "q"}, ONE_AT_A_TIME)
    assert (out["answer"], out["ttc_result"].chosen) == ("Lyon", 0)


def test_exactly_n_runs_are_made_in_parallel_under_the_callers_scope():
    model = ScriptedChatModel(replies=["Answer: 2"], delay=0.05)
    budget = Budget()
    with budget_scope(budget):
        out = _graph(sampled_node(_model_node(model), n=6)).invoke({"question": "q"}, {"max_concurrency": 3})
    assert model.calls == 6
    assert model.peak_active == 3
    assert budget.spent.calls == out["ttc_result"].spend.calls == 6


def test_the_budget_stops_the_runs_and_the_affordable_ones_vote():
    model = ScriptedChatModel(replies=["Answer: 5", "Answer: 6", "Answer: 5"])
    budget = budget_with_calls_left(8, 3)
    with budget_scope(budget):
        result = _graph(sampled_node(_model_node(model), n=8)).invoke({"question": "q"}, ONE_AT_A_TIME)["ttc_result"]
    assert model.calls == 3
    assert (result.answer, result.stop_reason) == ("5", "budget")
    assert [c.budget_refused for c in result.candidates] == [False] * 3 + [True] * 5


def test_a_budget_too_small_for_one_run_raises():
    model = ScriptedChatModel(replies=["Answer: 1"], max_tokens=20)
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        _graph(sampled_node(_model_node(model), n=3)).invoke({"question": "q"})


def test_a_node_taking_config_and_runtime_gets_them_and_the_context_budget_is_charged():
    model = ScriptedChatModel(replies=["Answer: 4"])
    seen = []

    def solve(state, config: RunnableConfig, runtime: Runtime[TTCContext]):
        seen.append((config["metadata"].get("user"), runtime.context.budget.name))
        return {"answer": model.invoke(state["question"], config).content}

    budget = budget_with_calls_left(4, 2, name="team")
    graph = _graph(sampled_node(solve, n=4))
    result = graph.invoke({"question": "q"}, {"metadata": {"user": "ada"}}, context=TTCContext(budget=budget))
    assert seen == [("ada", "team")] * 4  # two runs were made; the budget refused the other two
    assert result["ttc_result"].stop_reason == "budget"
    assert (budget.spent.calls, result["ttc_result"].spend.calls, model.calls) == (4, 2, 2)


def test_failing_runs_and_updates_without_the_answer_are_kept_as_failures():
    answers = iter(["Answer: 2", "boom", None, "Answer: 2", "Answer: 3"])
    lock = threading.Lock()

    def solve(state):
        with lock:
            answer = next(answers)
        if answer == "boom":
            raise ValueError("boom")
        return {"answer": answer} if answer else {"steps": 1}

    result = _graph(sampled_node(solve, n=5)).invoke({"question": "q"}, ONE_AT_A_TIME)["ttc_result"]
    assert result.answer == "2"
    assert [(c.index, c.error) for c in result.failures] == [
        (1, "ValueError: boom"),
        (2, "answer extraction failed: KeyError(\"the node's update has no 'answer'\")"),
    ]


def test_when_every_run_fails_the_node_raises():
    def solve(state):
        raise RuntimeError("no model")

    with pytest.raises(AllCandidatesFailed, match="first failure: RuntimeError: no model"):
        _graph(sampled_node(solve, n=2)).invoke({"question": "q"})


def test_adaptive_stops_on_a_unanimous_vote_like_the_other_shells():
    calls = itertools.count()

    def solve(state):
        next(calls)
        return {"answer": "4"}

    result = _graph(sampled_node(solve, n=10, adaptive=True)).invoke({"question": "q"})["ttc_result"]
    assert result.stop_reason == "converged"
    assert len(result.candidates) == next(calls) == 7


async def test_an_async_node_is_sampled_under_ainvoke():
    model = ScriptedChatModel(replies=["Answer: 6", "Answer: 1", "Answer: 6"])

    async def solve(state):
        return {"answer": (await model.ainvoke(state["question"])).content}

    budget = Budget()
    with budget_scope(budget):
        out = await _graph(sampled_node(solve, n=3)).ainvoke({"question": "q"}, ONE_AT_A_TIME)
    assert out["answer"] == "Answer: 6"
    assert budget.spent.calls == out["ttc_result"].spend.calls == 3


def test_without_a_result_key_in_the_state_the_update_still_applies():
    out = _graph(sampled_node(_scripted_node(["Answer: 1"] * 3), n=3), StateWithoutResult).invoke({"question": "q"})
    assert out == {"question": "q", "answer": "Answer: 1"}


def test_the_result_is_checkpointed_faithfully():
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    graph = _graph(sampled_node(_scripted_node(["Answer: 1"] * 2), n=2), checkpointer=InMemorySaver())
    graph.invoke({"question": "q"}, thread)
    result = graph.get_state(thread).values["ttc_result"]
    assert isinstance(result, TTCResult)
    assert result.output == {"answer": "Answer: 1", "steps": 0}


async def test_a_callable_object_with_an_async_call_is_awaited():
    class Solver:
        async def __call__(self, state):
            return {"answer": "Answer: 3"}

    out = await _graph(sampled_node(Solver(), n=2)).ainvoke({"question": "q"})
    assert (out["answer"], out["ttc_result"].stop_reason) == ("Answer: 3", "done")


def test_the_wrapper_keeps_the_nodes_name_and_bad_options_fail_early():
    def solve(state):
        return {"answer": "1"}

    assert sampled_node(solve, n=2).__name__ == "solve"
    with pytest.raises(ValueError, match="n must be a positive integer"):
        sampled_node(solve, n=0)
    with pytest.raises(TypeError, match="node must be a node function"):
        sampled_node("solve")
