"""The graphs refuse bad options with a ValueError before the model is called, and survive huge scores."""

import math
from typing import TypedDict

import pytest
from langgraph.graph import START, StateGraph

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget
from ttc_plugins.langgraph import (
    TTCContext,
    create_best_of_n_graph,
    create_feedback_edit_graph,
    create_refine_graph,
    create_self_consistency_graph,
    create_tpo_graph,
    sampled_node,
)

ONE_AT_A_TIME = {"max_concurrency": 1}


def _score(question, candidate):
    return 0.5


class State(TypedDict, total=False):
    question: str
    answer: str


def _node_graph(node):
    builder = StateGraph(State)
    builder.add_node("solve", node)
    builder.add_edge(START, "solve")
    return builder.compile()


def _model_node(model):
    def solve(state):
        return {"answer": model.invoke(state["question"]).content}

    return solve


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: create_self_consistency_graph(m, n=10**9), "n must be a positive integer of at most 1000"),
        (lambda m: create_best_of_n_graph(m, _score, threshold="0.5"), r"threshold must be a score in \[0, 1\]"),
        (lambda m: _node_graph(sampled_node(_model_node(m), n=10**9)), "n must be a positive integer of at most"),
        (lambda m: create_refine_graph(m, scorer=_score, threshold=math.inf), r"threshold must be a score"),
        (
            lambda m: create_feedback_edit_graph(m, feedback_model=m, edit_model=m, judge=_score, feedbacks=10**9),
            "feedbacks must be a positive integer of at most 1000",
        ),
        (lambda m: create_tpo_graph(m, scorer=_score, samples=10**9), "samples must be an integer of at least 2"),
    ],
)
def test_a_bad_option_is_a_value_error_before_any_call(build, message):
    model = ScriptedChatModel(replies=["Answer: 4"])
    with pytest.raises(ValueError, match=message):
        build(model).invoke({"question": "q"})
    assert model.calls == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda m: create_self_consistency_graph(m, n=8),
        lambda m: create_best_of_n_graph(m, _score, n=8),
        lambda m: _node_graph(sampled_node(_model_node(m), n=8)),
        lambda m: create_tpo_graph(m, scorer=_score, samples=8),
    ],
)
def test_more_samples_than_the_budget_can_ever_admit_are_refused_before_any_call(build):
    model = ScriptedChatModel(replies=["Answer: 4"])
    with pytest.raises(ValueError, match=r"=8 samples can never fit.*max_calls=5"):
        build(model).invoke({"question": "q"}, context=TTCContext(budget=Budget(max_calls=5)))
    assert model.calls == 0


@pytest.mark.parametrize("huge", [10**5000, math.inf, math.nan], ids=["10**5000", "inf", "nan"])
def test_a_huge_score_fails_only_its_candidate_and_the_others_still_win(huge):
    scores = {"1": 0.3, "2": huge, "3": 0.8}
    model = ScriptedChatModel(replies=["Answer: 1", "Answer: 2", "Answer: 3"])
    graph = create_best_of_n_graph(model, lambda q, c: scores[c.content[-1]], n=3)
    result = graph.invoke({"question": "q"}, ONE_AT_A_TIME)["result"]
    assert result.answer == "3"
    assert [c.index for c in result.failures] == [1]
