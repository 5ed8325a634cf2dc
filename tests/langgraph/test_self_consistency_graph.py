import itertools
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from tests.budgets import budget_with_calls_left
from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.langgraph import TTCContext, TTCResultField, create_self_consistency_graph

ONE_AT_A_TIME = {"max_concurrency": 1}  # samples run in index order, so scripted replies map to indices


def _model(replies, **options):
    return ScriptedChatModel(replies=replies, **options)


def _solve(graph, question="q", config=None, **kwargs):
    return graph.invoke({"question": question}, config, **kwargs)


def test_the_majority_wins_and_the_result_shows_every_candidate_and_the_spend():
    model = _model(["Answer: 8", "Answer: 7", "so it is 7.", "Answer: 9", "7"])
    out = _solve(create_self_consistency_graph(model, n=5), config=ONE_AT_A_TIME)
    result = out["result"]
    assert out["answer"] == "7"
    assert isinstance(result, TTCResult)
    assert [c.answer for c in out["candidates"]] == ["8", "7", "7", "9", "7"]
    assert [c.votes for c in out["candidates"]] == [1, 3, 3, 1, 3]
    assert (result.answer, result.chosen, result.stop_reason) == ("7", 1, "done")
    assert result.output.content == "Answer: 7"
    assert (result.spend.calls, result.spend.input_tokens, result.spend.output_tokens) == (5, 50, 25)
    assert model.calls == 5


def test_a_tie_goes_to_the_answer_that_came_first():
    model = _model(["Answer: 8", "Answer: 7", "Answer: 7", "Answer: 8"])
    result = _solve(create_self_consistency_graph(model, n=4), config=ONE_AT_A_TIME)["result"]
    assert (result.answer, result.chosen) == ("8", 0)


def test_exactly_n_samples_are_drawn_in_parallel_branches():
    model = _model(["Answer: 1"], delay=0.05)
    out = _solve(create_self_consistency_graph(model, n=6), config={"max_concurrency": 3})
    assert model.calls == 6
    assert model.peak_active == 3
    assert [c.index for c in out["candidates"]] == [0, 1, 2, 3, 4, 5]


def test_adaptive_keeps_sampling_while_the_vote_is_split():
    model = _model(["Answer: 1", "Answer: 2"])
    result = _solve(create_self_consistency_graph(model, n=10, adaptive=True), config=ONE_AT_A_TIME)["result"]
    assert result.stop_reason == "done"
    assert len(result.candidates) == model.calls == 10


def test_a_failing_sample_is_kept_as_a_failure_and_the_survivors_vote():
    model = _model(["Answer: 2", "Answer: 3", "Answer: 3", "Answer: 2", "Answer: 2"], fail_on=frozenset({1, 2}))
    result = _solve(create_self_consistency_graph(model, n=5), config=ONE_AT_A_TIME)["result"]
    assert result.answer == "2"
    assert [c.index for c in result.failures] == [1, 2]
    assert result.failures[0].error == "RuntimeError: provider error on call 1"
    assert [c.votes for c in result.candidates] == [3, 0, 0, 3, 3]


def test_when_every_sample_fails_the_graph_raises_with_the_first_failure():
    model = _model(["x"], fail_on=frozenset(range(10)))
    with pytest.raises(AllCandidatesFailed, match="first failure: RuntimeError: provider error on call 0"):
        _solve(create_self_consistency_graph(model, n=3), config=ONE_AT_A_TIME)


def test_the_budget_stops_sampling_and_the_vote_uses_what_was_affordable():
    model = _model(["Answer: 5", "Answer: 6", "Answer: 5"])
    budget = budget_with_calls_left(8, 3)
    with budget_scope(budget):
        result = _solve(create_self_consistency_graph(model, n=8), config=ONE_AT_A_TIME)["result"]
    assert model.calls == 3
    assert (result.answer, result.stop_reason) == ("5", "budget")
    assert [c.budget_refused for c in result.candidates] == [False] * 3 + [True] * 5
    assert (budget.spent.calls, result.spend.calls) == (8, 3)


def test_a_budget_too_small_for_one_sample_raises_naming_the_limit():
    budget = Budget(max_total_tokens=5)
    graph = create_self_consistency_graph(_model(["Answer: 1"], max_tokens=20), n=4)
    with budget_scope(budget), pytest.raises(BudgetExceeded, match="max_total_tokens=5") as refused:
        _solve(graph)
    assert refused.value.shortfall > 0


def test_calls_in_send_branches_are_charged_to_the_callers_scope_and_each_run_reports_its_own_spend():
    model = _model(["Answer: 1"], delay=0.01)
    graph = create_self_consistency_graph(model, n=4)
    budget = Budget()
    with budget_scope(budget):
        first = _solve(graph)["result"]
        second = _solve(graph)["result"]
    assert first.spend.calls == second.spend.calls == 4
    assert (budget.spent.calls, budget.spent.total_tokens) == (8, 120)
    assert budget.spent.by_model["scripted-1"].calls == 8


def test_a_budget_in_the_runtime_context_is_charged_without_a_scope():
    model = _model(["Answer: 5", "Answer: 6", "Answer: 5"])
    budget = budget_with_calls_left(5, 2)
    graph = create_self_consistency_graph(model, n=5)
    result = _solve(graph, config=ONE_AT_A_TIME, context=TTCContext(budget=budget))["result"]
    assert model.calls == 2
    assert result.stop_reason == "budget"
    assert (budget.spent.calls, result.spend.calls) == (5, 2)
    with pytest.raises(BudgetExceeded, match="max_calls=5"):
        _solve(graph, context={"budget": budget})  # a dict context becomes a TTCContext; nothing is left
    assert model.calls == 2


def test_custom_stream_events_report_each_sample_then_the_vote():
    graph = create_self_consistency_graph(lambda question: "Answer: 4", n=10, adaptive=True)
    events = list(graph.stream({"question": "q"}, stream_mode="custom"))
    samples, (vote, finish) = events[:-2], events[-2:]
    assert (vote["event"], vote["answer"], len(vote["groups"][0])) == ("vote", "4", 7)
    assert finish == {"event": "finish", "chosen": 0, "score": None, "stop_reason": "converged"}
    assert {(e["event"], e["role"], e["target"], e["error"]) for e in samples} == {
        ("call_done", "generator", "generate", None)
    }
    waves = [sorted(e["call"] for e in samples if e["step"] == step) for step in range(3)]
    assert waves == [[0, 1, 2], [0, 1], [0, 1]]  # a wave's samples finish in any order, but before the next wave


def test_a_failed_sample_is_reported_in_the_stream():
    model = _model(["Answer: 2"], fail_on=frozenset({0}))
    events = list(create_self_consistency_graph(model, n=2).stream({"question": "q"}, stream_mode="custom"))
    failed = next(e for e in events if e.get("error"))
    assert failed["error"] == "RuntimeError: provider error on call 0"
    assert events[-2]["event"] == "vote" and events[-2]["answer"] == "2"


def test_a_plain_function_and_a_custom_input_and_output_key():
    graph = create_self_consistency_graph(
        lambda task: {"answer": f"Answer: {task['a'] + task['b']}"}, n=3, input_key="task", output_key="sum"
    )
    out = graph.invoke({"task": {"a": 2, "b": 5}})
    assert out["sum"] == "7"
    assert out["result"].output == {"answer": "Answer: 7"}


async def test_an_async_generator_under_ainvoke_is_charged_to_the_scope():
    model = _model(["Answer: 9"])

    async def ask(question):
        return await model.ainvoke(question)

    budget = Budget()
    with budget_scope(budget):
        out = await create_self_consistency_graph(ask, n=3).ainvoke({"question": "q"})
    assert out["answer"] == "9"
    assert budget.spent.calls == out["result"].spend.calls == model.calls == 3


class ParentState(TypedDict, total=False):
    question: str
    answer: str
    result: TTCResultField


def _parent(solver, checkpointer):
    builder = StateGraph(ParentState)
    builder.add_node("solve", solver)
    builder.add_edge(START, "solve")
    builder.add_edge("solve", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.mark.parametrize("subgraph_checkpointer", [None, True], ids=["per-run", "persistent"])
def test_as_a_subgraph_with_a_checkpointer_a_second_run_on_the_thread_has_only_fresh_candidates(
    subgraph_checkpointer,
):
    model = _model(["Answer: 3", "Answer: 4", "Answer: 3"])
    solver = create_self_consistency_graph(model, n=3, checkpointer=subgraph_checkpointer)
    parent = _parent(solver, InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    budget = Budget()
    with budget_scope(budget):
        first = parent.invoke({"question": "q1"}, thread)
        second = parent.invoke({"question": "q2"}, thread)
    assert first["answer"] == second["answer"] == "3"
    assert [c.index for c in second["result"].candidates] == [0, 1, 2]
    assert [c.votes for c in second["result"].candidates] == [2, 1, 2]
    assert second["result"].spend.calls == 3
    assert budget.spent.calls == model.calls == 6


def test_a_standalone_graph_with_a_checkpointer_starts_each_run_afresh_and_its_state_survives_serialization():
    saver = InMemorySaver()
    model = _model(["Answer: 3", "Answer: 4", "Answer: 3"])
    graph = create_self_consistency_graph(model, n=3, checkpointer=saver)
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    _solve(graph, "q1", thread)
    out = _solve(graph, "q2", thread)
    assert [c.index for c in out["candidates"]] == [0, 1, 2]

    restored = graph.get_state(thread).values
    result = restored["result"]
    assert isinstance(result, TTCResult) and result.model_dump() == out["result"].model_dump()
    assert isinstance(result.output, AIMessage) and result.output.content == "Answer: 3"
    assert all(isinstance(c.output, AIMessage) for c in restored["candidates"])
    assert result.spend.calls == 3
    # What the serializer saw: plain dicts around the outputs, no ttc_plugins classes to register.
    stored = saver.get_tuple(thread).checkpoint["channel_values"]
    assert isinstance(stored["result"], dict) and isinstance(stored["result"]["output"], AIMessage)
    assert all(isinstance(c, dict) for c in stored["candidates"])


def test_a_parent_result_field_survives_the_parents_checkpointer():
    parent = _parent(create_self_consistency_graph(_model(["Answer: 3"]), n=2), InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}
    parent.invoke({"question": "q"}, thread)
    result = parent.get_state(thread).values["result"]
    assert isinstance(result, TTCResult) and isinstance(result.output, AIMessage)
    assert [c.votes for c in result.candidates] == [2, 2]


def test_a_subgraph_in_a_parent_is_charged_to_the_budget_in_the_parents_context():
    budget = budget_with_calls_left(4, 2)
    model = _model(["Answer: 1"])
    parent = _parent(create_self_consistency_graph(model, n=4), None)
    out = parent.invoke({"question": "q"}, ONE_AT_A_TIME, context=TTCContext(budget=budget))
    assert out["result"].stop_reason == "budget"
    assert (budget.spent.calls, model.calls) == (4, 2)


def test_an_interrupt_in_a_sample_pauses_the_graph_and_on_resume_the_finished_samples_come_back_intact():
    calls = itertools.count()

    def generate(question):
        if next(calls) == 0:  # the first sample asks a human; the other two finish meanwhile
            interrupt("approve?")
        return AIMessage("Answer: 5")

    graph = create_self_consistency_graph(generate, n=3, checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    paused = _solve(graph, config=thread)
    assert [i.value for i in paused["__interrupt__"]] == ["approve?"]
    out = graph.invoke(Command(resume="yes"), thread)
    assert next(calls) == 4  # only the interrupted sample ran again; the others were loaded from the saver
    assert [(c.index, c.votes) for c in out["candidates"]] == [(0, 3), (1, 3), (2, 3)]
    assert all(isinstance(c.output, AIMessage) for c in out["candidates"])


def test_the_graph_describes_its_input_and_output_for_tools_such_as_langgraph_server():
    graph = create_self_consistency_graph(lambda q: "Answer: 1", n=2, input_key="task", output_key="sum")
    assert list(graph.get_input_jsonschema()["properties"]) == ["task"]
    assert list(graph.get_output_jsonschema()["properties"]) == ["sum", "candidates", "result"]
    assert set(graph.get_graph().nodes) == {"__start__", "start", "step", "generator", "__end__"}


def test_a_state_without_the_input_key_is_refused():
    with pytest.raises(ValueError, match="the state has no 'question'"):
        create_self_consistency_graph(lambda q: "Answer: 1", n=2).invoke({"query": "q"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"wave_size": 0}, "wave_size must be a positive integer"),
        ({"input_key": "answer"}, "input_key and output_key must differ"),
        ({"output_key": "candidates"}, "a key the graph uses itself"),
        ({"input_key": ""}, "input_key must be a non-empty string"),
    ],
)
def test_bad_options_are_rejected_when_the_graph_is_built(options, message):
    with pytest.raises(ValueError, match=message):
        create_self_consistency_graph(lambda q: "x", **options)


def test_generate_must_be_callable():
    with pytest.raises(TypeError, match="generate must be a Runnable or a callable"):
        create_self_consistency_graph("not a model")


def test_each_candidate_gets_its_own_samples_tokens_even_from_a_text_chain():
    generate = ScriptedChatModel(replies=["Answer: 7"], input_tokens=10, output_tokens=5) | StrOutputParser()
    budget = Budget()
    with budget_scope(budget):
        out = create_self_consistency_graph(generate, n=3).invoke({"question": "q"})
    assert [(c.input_tokens, c.output_tokens) for c in out["candidates"]] == [(10, 5)] * 3
    assert budget.spent.total_tokens == 45  # counted once


def test_a_refusal_from_a_samples_own_nested_budget_fails_that_sample_not_the_run():
    from tests.langchain.test_self_consistency import _tool_with_its_own_cap

    with budget_scope(Budget(max_total_tokens=100_000)):
        graph = create_self_consistency_graph(_tool_with_its_own_cap(_model(["Answer: 4"])), n=8)
        result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert (result.stop_reason, len(result.candidates), result.answer) == ("done", 8, "4")
    assert len([c for c in result.candidates if c.error]) == 4
    assert not any(c.budget_refused for c in result.candidates)
