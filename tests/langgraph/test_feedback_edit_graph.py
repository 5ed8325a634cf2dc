import itertools
import threading
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, TTCResult, budget_scope
from ttc_plugins.langchain import llm_judge
from ttc_plugins.langgraph import TTCContext, TTCResultField
from ttc_plugins.langgraph.feedback_edit import create_feedback_edit_graph
from ttc_plugins.verifiers import programmatic

LENGTH_SCORE = programmatic(lambda q, text: min(len(text) / 40, 1.0), on="output", name="length")
ONE_AT_A_TIME = {"max_concurrency": 1}  # branches run in Send order, so counters number them in that order


def _counter(prefix):
    numbers, lock = itertools.count(), threading.Lock()

    def reply(payload):
        with lock:
            return f"{prefix}{next(numbers)}"

    return RunnableLambda(reply)


def _recorder(log, reply):
    def record(payload):
        log.append(payload)
        return reply

    return RunnableLambda(record)


def _solve(graph, config=ONE_AT_A_TIME, **kwargs):
    return graph.invoke({"question": "Write something."}, config, **kwargs)


def _widths_graph(factory=create_feedback_edit_graph):
    drafter, feedback, editor = _counter("draft "), _counter("feedback "), _counter("a much longer edited version ")
    return factory(
        drafter, feedback_model=feedback, edit_model=editor, judge=LENGTH_SCORE, drafts=2, feedbacks=3, edits=2
    )


def test_each_role_gets_its_payload_feedback_goes_to_the_edits_of_its_own_draft():
    feedback_asks, edit_asks = [], []
    drafts = iter(["first draft", "second draft"])
    graph = create_feedback_edit_graph(
        RunnableLambda(lambda q: next(drafts)),
        feedback_model=RunnableLambda(lambda d: (feedback_asks.append(d), f"shorten {d['draft']}")[1]),
        edit_model=_recorder(edit_asks, "edited"),
        judge=LENGTH_SCORE,
        drafts=2,
        feedbacks=1,
        edits=1,
    )
    _solve(graph)
    assert feedback_asks == [
        {"question": "Write something.", "draft": "first draft"},
        {"question": "Write something.", "draft": "second draft"},
    ]
    assert edit_asks == [
        {"question": "Write something.", "draft": "first draft", "feedback": "shorten first draft"},
        {"question": "Write something.", "draft": "second draft", "feedback": "shorten second draft"},
    ]


def test_dedicated_models_are_charged_by_role_and_the_roles_add_up_to_the_total():
    drafter = ScriptedChatModel(replies=["Draft."], model_name="drafter", max_tokens=20)
    feedback_model = ScriptedChatModel(replies=["- Add detail."], model_name="critic-model", max_tokens=20)
    edit_model = ScriptedChatModel(replies=["Draft, with much more detail."], model_name="editor-model", max_tokens=20)
    judge = ScriptedChatModel(replies=['{"score": 6}', '{"score": 9}'], model_name="judge-model", max_tokens=20)
    budget = Budget()
    with budget_scope(budget):
        graph = create_feedback_edit_graph(
            drafter,
            feedback_model=feedback_model,
            edit_model=edit_model,
            judge=llm_judge(judge, structured=False),
            drafts=1,
            feedbacks=1,
            edits=1,
        )
        out = _solve(graph)
    assert out["answer"].content == "Draft, with much more detail."
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {
        "drafter": 1,
        "feedback": 1,
        "editor": 1,
        "judge": 2,
    }
    assert {model: line.calls for model, line in budget.spent.by_model.items()} == {
        "drafter": 1,
        "critic-model": 1,
        "editor-model": 1,
        "judge-model": 2,
    }
    spend = out["result"].spend
    assert sum(line.total_tokens for line in spend.by_role.values()) == spend.total_tokens == budget.spent.total_tokens


def test_the_budget_stops_the_tree_and_the_best_judged_version_so_far_wins():
    budget = Budget(max_calls=3)  # 2 drafts, 1 of 2 feedbacks; no edits; judging is programmatic
    drafter = ScriptedChatModel(replies=["a", "a longer draft"], model_name="d", max_tokens=5)
    feedback_model = ScriptedChatModel(replies=["more"], model_name="f", max_tokens=5)
    editor_calls = []
    graph = create_feedback_edit_graph(
        drafter,
        feedback_model=feedback_model,
        edit_model=_recorder(editor_calls, "e"),
        judge=LENGTH_SCORE,
        drafts=2,
        feedbacks=1,
        edits=1,
    )
    out = _solve(graph, context=TTCContext(budget=budget))
    result = out["result"]
    assert result.stop_reason == "budget"
    assert result.output.content == "a longer draft"
    assert [e.kind for e in result.events] == ["draft", "draft", "feedback", "feedback_failed"]
    assert "max_calls=3" in result.events[-1].data["error"]
    assert editor_calls == [] and len(result.candidates) == 2
    assert budget.spent.calls == result.spend.calls == 3


def test_a_budget_refusing_a_draft_skips_feedback_and_judges_what_was_drafted():
    budget = Budget(max_calls=3)
    budget.reserve(1, 1).commit(1, 1)
    budget.reserve(1, 1).commit(1, 1)  # a shared budget with one call left: the second draft is refused
    drafter = ScriptedChatModel(replies=["only draft"], max_tokens=5)
    feedback_calls = []
    graph = create_feedback_edit_graph(
        drafter, feedback_model=_recorder(feedback_calls, "f"), edit_model=_counter("e"), judge=LENGTH_SCORE, drafts=2
    )
    with budget_scope(budget):
        result = _solve(graph)["result"]
    assert (result.stop_reason, result.output.content, feedback_calls) == ("budget", "only draft", [])
    assert [c.budget_refused for c in result.candidates] == [False, True]


def test_nothing_judgeable_raises_with_the_reason():
    graph = create_feedback_edit_graph(
        RunnableLambda(lambda q: "x"),
        feedback_model=_counter("f"),
        edit_model=_counter("e"),
        judge=lambda q, c: "great!",
        drafts=1,
        feedbacks=1,
        edits=1,
    )
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned str"):
        _solve(graph)


def test_custom_stream_events_report_each_branch_then_the_selection():
    graph = create_feedback_edit_graph(
        RunnableLambda(lambda q: "draft"),
        feedback_model=RunnableLambda(lambda d: "more"),
        edit_model=RunnableLambda(lambda d: "a longer edit"),
        judge=LENGTH_SCORE,
        drafts=1,
        feedbacks=2,
        edits=1,
    )
    # Not with max_concurrency=1: langgraph 1.2.22 never delivers the custom stream under it.
    events = list(graph.stream({"question": "q"}, stream_mode="custom"))
    family = [e for e in events if e["event"] != "call_done"]
    assert [e["event"] for e in family] == ["draft", "feedback", "feedback", "edit", "edit", "finish"]
    assert family[1] == {"event": "feedback", "draft": 0, "feedback": "more"}
    assert [e["index"] for e in family if e["event"] == "edit"] == [1, 2]
    assert family[-1] == {"event": "finish", "chosen": 1, "score": 13 / 40, "stop_reason": "done"}
    calls = [(e["role"], e["step"]) for e in events if e["event"] == "call_done"]
    assert sorted(calls, key=lambda c: c[1]) == [("drafter", 0), *[("feedback", 1)] * 2, *[("editor", 2)] * 2,
                                                 *[("judge", 3)] * 3]  # fmt: skip
    # A stage's events go out once all its calls are done, before the next stage's calls.
    first_edit_call = next(i for i, e in enumerate(events) if e.get("role") == "editor")
    assert events.index(family[2]) < first_edit_call


def test_two_runs_on_one_thread_do_not_pile_up_versions_or_feedback():
    saver, thread = InMemorySaver(), {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    model = ScriptedChatModel(replies=["a draft"], max_tokens=5)
    graph = create_feedback_edit_graph(
        model,
        feedback_model=_counter("f"),
        edit_model=_counter("an edit "),
        judge=LENGTH_SCORE,
        drafts=2,
        feedbacks=1,
        edits=1,
        checkpointer=saver,
    )
    first = _solve(graph, thread)["result"]
    second = _solve(graph, thread)["result"]
    assert [c.index for c in second.candidates] == [0, 1, 2, 3]
    assert [e.kind for e in second.events] == [e.kind for e in first.events]
    assert second.spend.calls == 2
    restored = graph.get_state(thread).values
    assert isinstance(restored["result"], TTCResult)
    assert [type(c.output) for c in restored["candidates"]] == [AIMessage, AIMessage, str, str]


@pytest.mark.parametrize("width", ["drafts", "feedbacks", "edits"])
def test_widths_must_be_positive(width):
    with pytest.raises(ValueError, match=f"{width} must be a positive integer"):
        create_feedback_edit_graph(
            _counter("d"), feedback_model=_counter("f"), edit_model=_counter("e"), judge=LENGTH_SCORE, **{width: 0}
        )


def test_a_missing_role_model_is_named():
    with pytest.raises(ValueError, match="to act as feedback_model"):
        create_feedback_edit_graph(_counter("d"), feedback_model=None, edit_model=_counter("e"), judge=LENGTH_SCORE)


class ParentState(TypedDict, total=False):
    question: str
    answer: str
    result: TTCResultField


@pytest.mark.parametrize("subgraph_checkpointer", [None, True], ids=["per-run", "persistent"])
def test_as_a_subgraph_each_parent_run_has_only_its_own_versions(subgraph_checkpointer):
    graph = create_feedback_edit_graph(
        _counter("draft "),
        feedback_model=_counter("f"),
        edit_model=_counter("edit "),
        judge=LENGTH_SCORE,
        drafts=1,
        feedbacks=1,
        edits=1,
        checkpointer=subgraph_checkpointer,
    )
    builder = StateGraph(ParentState)
    builder.add_node("improve", graph)
    builder.add_edge(START, "improve")
    builder.add_edge("improve", END)
    parent, thread = builder.compile(checkpointer=InMemorySaver()), {"configurable": {"thread_id": "t1"}}
    parent.invoke({"question": "q1"}, thread)
    out = parent.invoke({"question": "q2"}, thread)
    assert [c.output for c in out["result"].candidates] == ["draft 1", "edit 1"]
    assert out["answer"] == "draft 1"
    assert isinstance(parent.get_state(thread).values["result"], TTCResult)


def test_the_graph_shows_a_node_per_role_and_describes_its_input_and_output():
    graph = create_feedback_edit_graph(
        _counter("d"), feedback_model=_counter("f"), edit_model=_counter("e"), judge=LENGTH_SCORE,
        input_key="task", output_key="reply",
    )  # fmt: skip
    assert set(graph.get_graph().nodes) == {"__start__", "__end__", "start", "step", "drafter", "feedback", "editor",
                                            "judge"}  # fmt: skip
    assert list(graph.get_input_jsonschema()["properties"]) == ["task"]
    assert list(graph.get_output_jsonschema()["properties"]) == ["reply", "candidates", "result"]
