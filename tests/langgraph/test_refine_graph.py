from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.langchain import refine
from ttc_plugins.langgraph import TTCContext, TTCResultField
from ttc_plugins.langgraph.refine import create_refine_graph
from ttc_plugins.verifiers import programmatic

IS_SEVEN = programmatic(lambda question, answer: answer == "7", name="is 7")
QUESTION = "What is 3 + 4?"


def _fixed(text):
    return RunnableLambda(lambda _: text)


def _stop_rules(result):
    return [e.data["rule"] for e in result.events if e.kind == "stop"]


def _thread(thread_id="t1"):
    return {"configurable": {"thread_id": thread_id}}


def _solve(graph, config=None, **kwargs):
    return graph.invoke({"question": QUESTION}, config, **kwargs)


def _sums_to_seven_critic():
    return RunnableLambda(lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "3 + 4 is 7.")


def test_an_edit_that_would_make_the_answer_worse_is_rejected_and_the_best_is_returned():
    graph = create_refine_graph(
        _fixed("3 + 4 = 7. Answer: 7"),
        critic=_fixed("Check again: 3 + 4 might be 8."),
        editor=_fixed("3 + 4 = 8. Answer: 8"),
        scorer=IS_SEVEN,
        patience=1,
    )
    out = _solve(graph)
    result = out["result"]
    assert out["answer"] == result.output == "3 + 4 = 7. Answer: 7"
    assert [(c.answer, c.score) for c in out["candidates"]] == [("7", 1.0), ("8", 0.0)]
    assert [e.kind for e in result.events if e.kind.startswith("edit")] == ["edit_rejected"]
    assert (_stop_rules(result), result.stop_reason, result.chosen) == (["patience"], "converged", 0)


def test_a_better_edit_is_accepted_and_the_critic_ends_the_run():
    graph = create_refine_graph(
        _fixed("Answer: 8"), critic=_sums_to_seven_critic(), editor=_fixed("Answer: 7"), scorer=IS_SEVEN
    )
    result = _solve(graph)["result"]
    assert (result.output, result.chosen, result.stop_reason) == ("Answer: 7", 1, "converged")
    assert [e.data["critique"] for e in result.events if e.kind == "critique"] == ["3 + 4 is 7.", "NO ISSUES"]
    assert _stop_rules(result) == ["critic_satisfied"]


@pytest.mark.parametrize(
    ("options", "edits", "rule", "reason", "versions"),
    [
        ({"max_rounds": 2, "patience": None}, ["Answer: 5", "Answer: 6"], "max_rounds", "done", 3),
        ({"max_rounds": 5, "threshold": 1.0}, ["Answer: 5", "Answer: 7", "Answer: 7"], "threshold", "threshold", 3),
        ({"max_rounds": 5, "patience": 2, "accept": "higher"}, ["Answer: 5", "Answer: 6"], "patience", "converged", 3),
    ],
)
def test_each_stop_rule_fires_with_its_reason(options, edits, rule, reason, versions):
    queue = iter(edits)
    graph = create_refine_graph(
        _fixed("Answer: 4"),
        critic=_fixed("wrong"),
        editor=RunnableLambda(lambda d: next(queue)),
        scorer=IS_SEVEN,
        **options,
    )
    result = _solve(graph)["result"]
    assert (_stop_rules(result), result.stop_reason) == ([rule], reason)
    assert len(result.candidates) == versions
    assert next(e.data["rounds"] for e in result.events if e.kind == "stop") == 2


def test_it_gives_the_same_versions_events_and_stop_as_the_langchain_wrapper():
    def parts():
        edits = iter(["Answer: 5", "Answer: 8", "Answer: 7"])
        critic = RunnableLambda(lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else f"not {d['draft']}")
        return _fixed("Answer: 4"), {"critic": critic, "editor": RunnableLambda(lambda d: next(edits))}

    options = {"scorer": IS_SEVEN, "max_rounds": 5, "patience": 3, "accept": "higher"}
    draft, roles = parts()
    graph_result = _solve(create_refine_graph(draft, **roles, **options))["result"]
    draft, roles = parts()
    chain_result = refine(draft, **roles, **options).with_result().invoke(QUESTION)
    unlined = {"lineage"}  # the old graph records none; it moves onto the step graph next
    assert [c.model_dump(exclude=unlined) for c in graph_result.candidates] == [
        c.model_dump(exclude=unlined) for c in chain_result.candidates
    ]
    assert graph_result.events == chain_result.events
    assert (
        (graph_result.chosen, graph_result.stop_reason)
        == (chain_result.chosen, chain_result.stop_reason)
        == (3, "converged")
    )


def test_a_failing_critic_costs_a_round_not_the_run():
    def critic(payload):
        raise TimeoutError("critic timed out")

    result = _solve(create_refine_graph(_fixed("Answer: 7"), critic=critic, editor=_fixed("x"), scorer=IS_SEVEN))[
        "result"
    ]
    assert result.output == "Answer: 7"
    assert [c.error for c in result.candidates[1:]] == ["critique failed: TimeoutError: critic timed out"] * 2
    assert _stop_rules(result) == ["patience"]


def _role_models():
    return {
        "generate": ScriptedChatModel(replies=["Answer: 8"], model_name="drafter", max_tokens=20),
        "critic": ScriptedChatModel(replies=["It is 7."], model_name="critic", max_tokens=20),
        "editor": ScriptedChatModel(replies=["Answer: 7"], model_name="editor", max_tokens=20),
    }


def test_every_role_is_charged_and_the_roles_add_up_to_the_total():
    budget = Budget()
    with budget_scope(budget):
        result = _solve(create_refine_graph(**_role_models(), scorer=IS_SEVEN, max_rounds=2, patience=None))["result"]
    by_role = result.spend.by_role
    assert {role: line.calls for role, line in by_role.items()} == {"generator": 1, "critic": 2, "editor": 2}
    assert {model: line.calls for model, line in result.spend.by_model.items()} == {
        "drafter": 1,
        "critic": 2,
        "editor": 2,
    }
    assert sum(line.total_tokens for line in by_role.values()) == result.spend.total_tokens == budget.spent.total_tokens
    assert result.spend.total_tokens == 5 * 15
    assert result.output.content == "Answer: 7"


def test_the_budget_running_out_mid_round_returns_the_best_so_far():
    budget = Budget(max_calls=3)  # draft, critique, edit; the second critique is refused
    with budget_scope(budget):
        result = _solve(create_refine_graph(**_role_models(), scorer=IS_SEVEN, max_rounds=3))["result"]
    assert (result.stop_reason, result.output.content, _stop_rules(result)) == ("budget", "Answer: 7", ["budget"])
    assert [c.answer for c in result.candidates] == ["8", "7"]
    assert budget.spent.calls == result.spend.calls == 3


def test_a_budget_in_the_runtime_context_is_charged_without_a_scope():
    budget = Budget(max_calls=3)
    graph = create_refine_graph(**_role_models(), scorer=IS_SEVEN, max_rounds=3)
    result = _solve(graph, context=TTCContext(budget=budget))["result"]
    assert (result.stop_reason, budget.spent.calls, result.spend.calls) == ("budget", 3, 3)


def test_a_budget_too_small_for_the_draft_raises_naming_the_limit():
    graph = create_refine_graph(**_role_models(), scorer=IS_SEVEN)
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        _solve(graph)


def test_defaults_use_the_chains_own_model_and_keep_its_output_type():
    model = ScriptedChatModel(replies=["Answer: 6", '{"score": 4}', "NO ISSUES"], max_tokens=20)
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | model | StrOutputParser()
    budget = Budget()
    with budget_scope(budget):
        out = create_refine_graph(chain, max_rounds=1, input_key="task").invoke({"task": {"question": QUESTION}})
    result = out["result"]
    assert out["answer"] == "Answer: 6"  # a str, as the chain returns
    assert result.candidates[0].score == 0.4  # the default judge read '{"score": 4}'
    assert set(budget.spent.by_role) == {"generator", "verifier", "critic"}
    assert _stop_rules(result) == ["critic_satisfied"]


def test_custom_stream_events_follow_the_run_as_it_happens():
    graph = create_refine_graph(
        _fixed("Answer: 8"), critic=_sums_to_seven_critic(), editor=_fixed("Answer: 7"), scorer=IS_SEVEN
    )
    events = list(graph.stream({"question": QUESTION}, stream_mode="custom"))
    assert [e["event"] for e in events] == [
        "draft", "round", "critique", "edit_accepted", "round", "critique", "stop", "refined",
    ]  # fmt: skip
    assert events[3] == {"event": "edit_accepted", "index": 1, "score": 1.0, "best_score": 0.0}
    assert events[-1] == {"event": "refined", "chosen": 1, "score": 1.0, "stop_reason": "converged"}


def _human_graph(editor, checkpointer=None, **options):
    return create_refine_graph(
        _fixed("3 + 4 = 8. Answer: 8"),
        critic=_fixed("Check the sum."),
        editor=editor,
        scorer=IS_SEVEN,
        human_feedback=True,
        checkpointer=InMemorySaver() if checkpointer is None else checkpointer,
        **options,
    )


def _recording_editor(seen, reply="3 + 4 = 7. Answer: 7"):
    def editor(payload):
        seen.append(payload["feedback"])
        return reply

    return editor


def test_a_human_sees_the_draft_and_feedback_and_the_editor_receives_the_replacement_feedback_exactly():
    seen = []
    graph, thread = _human_graph(_recording_editor(seen), max_rounds=1), _thread()
    paused = _solve(graph, thread)
    request = {"question": QUESTION, "draft": "3 + 4 = 8. Answer: 8", "feedback": "Check the sum.", "round": 1}
    assert [i.value for i in paused["__interrupt__"]] == [request]
    assert seen == []  # nothing is edited before the human answers
    out = graph.invoke(Command(resume="Add 3 and 4 again: the sum is 7."), thread)
    assert seen == ["Add 3 and 4 again: the sum is 7."]
    assert "__interrupt__" not in out
    assert out["answer"] == "3 + 4 = 7. Answer: 7"
    result = out["result"]
    human = [e.data for e in result.events if e.kind == "human_feedback"]
    assert human == [{"round": 1, "decision": "replace", "feedback": "Add 3 and 4 again: the sum is 7."}]
    assert (result.stop_reason, _stop_rules(result)) == ("done", ["max_rounds"])


@pytest.mark.parametrize(
    "approve",
    [
        lambda interrupt_id: Command(resume=True),
        # Command(resume=None) is no resume at all in LangGraph 1.2; None arrives through a resume map.
        lambda interrupt_id: Command(resume={interrupt_id: None}),
    ],
    ids=["True", "None"],
)
def test_an_approved_feedback_goes_to_the_editor_as_the_critic_wrote_it(approve):
    seen = []
    graph, thread = _human_graph(_recording_editor(seen, reply="Answer: 9"), max_rounds=2, patience=None), _thread()
    paused = _solve(graph, thread)
    second = graph.invoke(approve(paused["__interrupt__"][0].id), thread)
    assert seen == ["Check the sum."]
    assert second["__interrupt__"][0].value["round"] == 2  # the next round asks again
    out = graph.invoke(Command(resume="Try 7."), thread)
    assert seen == ["Check the sum.", "Try 7."]
    decisions = [e.data["decision"] for e in out["result"].events if e.kind == "human_feedback"]
    assert decisions == ["approve", "replace"]


def test_a_human_stop_ends_the_run_with_the_best_so_far():
    seen = []
    graph, thread = _human_graph(_recording_editor(seen)), _thread()
    _solve(graph, thread)
    out = graph.invoke(Command(resume={"stop": True}), thread)
    result = out["result"]
    assert "__interrupt__" not in out and seen == []
    assert (out["answer"], result.stop_reason, len(result.candidates)) == ("3 + 4 = 8. Answer: 8", "converged", 1)
    assert [e.kind for e in result.events][-2:] == ["human_stop", "stop"]
    assert _stop_rules(result) == ["critic_satisfied"]  # the human plays the critic who is satisfied


def test_an_answer_the_graph_cannot_read_is_asked_for_again():
    seen = []
    graph, thread = _human_graph(_recording_editor(seen), max_rounds=1), _thread()
    _solve(graph, thread)
    again = graph.invoke(Command(resume={"feedback": "typo"}), thread)
    request = again["__interrupt__"][0].value
    assert request["feedback"] == "Check the sum."
    assert request["error"].startswith("expected True or None (approve the feedback), a non-empty string")
    assert seen == []
    graph.invoke(Command(resume="Fix the sum."), thread)
    assert seen == ["Fix the sum."]


def test_a_resume_in_a_fresh_graph_over_the_same_saver_finishes_the_run_from_the_checkpoint():
    # As after a restart: the tracker is rebuilt from the checkpointed versions and steps alone.
    saver, seen = InMemorySaver(), []
    _solve(_human_graph(_recording_editor(seen), checkpointer=saver, max_rounds=2, patience=None), _thread())
    restarted = _human_graph(_recording_editor(seen), checkpointer=saver, max_rounds=2, patience=None)
    restarted.invoke(Command(resume=True), _thread())
    out = restarted.invoke(Command(resume=True), _thread())
    assert seen == ["Check the sum."] * 2
    assert [(c.index, c.score) for c in out["candidates"]] == [(0, 0.0), (1, 1.0), (2, 1.0)]
    assert (out["result"].chosen, out["result"].stop_reason) == (2, "done")
    stored = saver.get_tuple(_thread()).checkpoint["channel_values"]
    assert all(isinstance(step, dict) for step in stored["ttc_steps"])


def test_human_feedback_without_a_checkpointer_is_refused_before_any_call():
    calls = []
    graph = create_refine_graph(
        RunnableLambda(lambda q: calls.append(q) or "Answer: 8"),
        critic=_fixed("x"),
        editor=_fixed("y"),
        scorer=IS_SEVEN,
        human_feedback=True,
    )
    with pytest.raises(ValueError, match=r"human_feedback=True .* no checkpointer: compile with checkpointer="):
        _solve(graph)
    assert calls == []
    with pytest.raises(ValueError, match="checkpointer=False has none"):
        create_refine_graph(
            _fixed("x"),
            critic=_fixed("x"),
            editor=_fixed("y"),
            scorer=IS_SEVEN,
            human_feedback=True,
            checkpointer=False,
        )


def test_two_runs_on_one_thread_do_not_pile_up_versions_or_steps():
    graph = create_refine_graph(**_role_models(), scorer=IS_SEVEN, max_rounds=1, checkpointer=InMemorySaver())
    budget = Budget()
    with budget_scope(budget):
        first = _solve(graph, _thread())["result"]
        second = graph.invoke({"question": "What is 4 + 3?"}, _thread())["result"]
    assert [c.index for c in second.candidates] == [0, 1]
    assert second.events == first.events
    assert first.spend.calls == second.spend.calls == 3
    assert budget.spent.calls == 6
    restored = graph.get_state(_thread()).values
    assert isinstance(restored["result"], TTCResult) and isinstance(restored["result"].output, AIMessage)
    assert all(isinstance(c.output, AIMessage) for c in restored["candidates"])


class ParentState(TypedDict, total=False):
    question: str
    answer: str
    result: TTCResultField


def test_as_a_subgraph_the_human_review_pauses_and_resumes_the_parent():
    seen = []
    builder = StateGraph(ParentState)
    builder.add_node(
        "refine",
        create_refine_graph(
            _fixed("Answer: 8"),
            critic=_fixed("Check the sum."),
            editor=_recording_editor(seen, "Answer: 7"),
            scorer=IS_SEVEN,
            human_feedback=True,
            max_rounds=1,
        ),
    )
    builder.add_edge(START, "refine")
    builder.add_edge("refine", END)
    parent, thread = builder.compile(checkpointer=InMemorySaver()), _thread()
    paused = parent.invoke({"question": QUESTION}, thread)
    assert paused["__interrupt__"][0].value["draft"] == "Answer: 8"
    out = parent.invoke(Command(resume="It is 7."), thread)
    assert (out["answer"], out["result"].output, seen) == ("Answer: 7", "Answer: 7", ["It is 7."])


async def test_ainvoke_runs_the_same_loop_with_async_roles():
    async def editor(payload):
        return "Answer: 7"

    graph = create_refine_graph(_fixed("Answer: 8"), critic=_sums_to_seven_critic(), editor=editor, scorer=IS_SEVEN)
    out = await graph.ainvoke({"question": QUESTION})
    assert (out["answer"], out["result"].stop_reason) == ("Answer: 7", "converged")


def test_without_a_model_to_default_to_the_missing_role_is_named():
    with pytest.raises(ValueError, match="to act as critic; pass critic="):
        create_refine_graph(_fixed("x"), scorer=IS_SEVEN)
    with pytest.raises(ValueError, match=r"cannot find a chat model in .*; pass scorer="):
        create_refine_graph(_fixed("x"), critic=_fixed("c"), editor=_fixed("e"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_rounds": -1}, "max_rounds must be a non-negative integer"),
        ({"accept": "sometimes"}, "accept must be 'not_lower' or 'higher'"),
        ({"output_key": "candidates"}, "a key the graph uses itself"),
        ({"input_key": "answer"}, "input_key and output_key must differ"),
    ],
)
def test_bad_options_are_rejected_when_the_graph_is_built(options, message):
    with pytest.raises(ValueError, match=message):
        create_refine_graph(_fixed("x"), critic=_fixed("c"), editor=_fixed("e"), scorer=IS_SEVEN, **options)


def test_a_state_without_the_input_key_is_refused():
    graph = create_refine_graph(_fixed("x"), critic=_fixed("c"), editor=_fixed("e"), scorer=IS_SEVEN)
    with pytest.raises(ValueError, match="the state has no 'question'"):
        graph.invoke({"query": "q"})


@pytest.mark.parametrize("human_feedback", [False, True])
def test_the_graph_shows_its_steps_and_describes_its_input_and_output(human_feedback):
    graph = create_refine_graph(
        _fixed("x"),
        critic=_fixed("c"),
        editor=_fixed("e"),
        scorer=IS_SEVEN,
        human_feedback=human_feedback,
        input_key="task",
        output_key="reply",
    )
    steps = {"start", "draft", "score", "route", "critique", "edit", "finish"} | (
        {"review"} if human_feedback else set()
    )
    assert set(graph.get_graph().nodes) == {"__start__", "__end__", *steps}
    assert list(graph.get_input_jsonschema()["properties"]) == ["task"]
    assert list(graph.get_output_jsonschema()["properties"]) == ["reply", "candidates", "result"]
