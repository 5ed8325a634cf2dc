import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
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
from ttc_plugins.langchain import llm_judge
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
    family = [e for e in events if e["event"] != "call_done"]
    assert [e["event"] for e in family] == [
        "draft", "round", "critique", "edit_accepted", "round", "critique", "stop", "finish",
    ]  # fmt: skip
    assert family[3] == {"event": "edit_accepted", "index": 1, "score": 1.0, "best_score": 0.0}
    assert family[-1] == {"event": "finish", "chosen": 1, "score": 1.0, "stop_reason": "converged"}
    calls = [(e["role"], e["target"]) for e in events if e["event"] == "call_done"]
    assert calls == [("generator", "draft"), ("verifier", "score"), ("critic", "critique"), ("editor", "edit"),
                     ("verifier", "score"), ("critic", "critique")]  # fmt: skip
    # An event goes out as soon as the call it follows from is done: the edit is judged right after its scoring.
    scored_edit = next(i for i, e in enumerate(events) if e["event"] == "call_done" and e["step"] == 4)
    assert events[scored_edit + 1]["event"] == "edit_accepted"


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
    # As after a restart: the core is replayed over the checkpointed replies alone.
    saver, seen = InMemorySaver(), []
    _solve(_human_graph(_recording_editor(seen), checkpointer=saver, max_rounds=2, patience=None), _thread())
    restarted = _human_graph(_recording_editor(seen), checkpointer=saver, max_rounds=2, patience=None)
    restarted.invoke(Command(resume=True), _thread())
    out = restarted.invoke(Command(resume=True), _thread())
    assert seen == ["Check the sum."] * 2
    assert [(c.index, c.score) for c in out["candidates"]] == [(0, 0.0), (1, 1.0), (2, 1.0)]
    assert (out["result"].chosen, out["result"].stop_reason) == (2, "done")
    stored = saver.get_tuple(_thread()).checkpoint["channel_values"]
    assert all(isinstance(record, dict) for record in stored["ttc_log"])


def test_human_feedback_without_a_checkpointer_is_refused_before_any_call():
    calls = []
    graph = create_refine_graph(
        RunnableLambda(lambda q: calls.append(q) or "Answer: 8"),
        critic=_fixed("x"),
        editor=_fixed("y"),
        scorer=IS_SEVEN,
        human_feedback=True,
    )
    with pytest.raises(ValueError, match=r"pauses for a human .* no checkpointer: compile with checkpointer="):
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
    steps = {"start", "step", "generator", "verifier", "critic", "editor"} | ({"human"} if human_feedback else set())
    assert set(graph.get_graph().nodes) == {"__start__", "__end__", *steps}
    assert list(graph.get_input_jsonschema()["properties"]) == ["task"]
    assert list(graph.get_output_jsonschema()["properties"]) == ["reply", "candidates", "result"]


def _counted_refine_graph(saver, *, drafts, judgements, critiques, edits):
    """A human-reviewed refine graph over ``saver`` whose models are scripted and count their calls."""
    models = {
        "generate": ScriptedChatModel(replies=drafts, model_name="drafter"),
        "critic": ScriptedChatModel(replies=critiques, model_name="critic"),
        "editor": ScriptedChatModel(replies=edits, model_name="editor"),
    }
    judge = ScriptedChatModel(replies=judgements, model_name="judge")
    graph = create_refine_graph(
        **models, scorer=llm_judge(judge, structured=False), max_rounds=1, human_feedback=True, checkpointer=saver
    )
    return graph, {**models, "scorer": judge}


def _saved(saver):
    """What an InMemorySaver holds, as plain dicts (its defaultdicts hold lambdas, which pickle refuses)."""
    storage = {thread: {ns: dict(saved) for ns, saved in by_ns.items()} for thread, by_ns in saver.storage.items()}
    return {"storage": storage, "writes": {key: dict(w) for key, w in saver.writes.items()}, "blobs": dict(saver.blobs)}


def _restored(saved):
    saver = InMemorySaver()
    for thread, by_ns in saved["storage"].items():
        for ns, checkpoints in by_ns.items():
            saver.storage[thread][ns].update(checkpoints)
    for key, writes in saved["writes"].items():
        saver.writes[key].update(writes)
    saver.blobs.update(saved["blobs"])
    return saver


def resume_in_this_process(path):
    """The child's half of the cross-process test: resume the run saved in ``path`` and report its spend."""
    with open(path, "rb") as file:
        saver = _restored(pickle.load(file))
    graph, models = _counted_refine_graph(saver, drafts=[], judgements=['{"score": 10}'], critiques=[],
                                          edits=["3 + 4 = 7. Answer: 7"])  # fmt: skip
    out = graph.invoke(Command(resume="Add 3 and 4 again."), _thread("across"))
    spend = out["result"].spend
    print(json.dumps({
        "calls": {role: model.calls for role, model in models.items()}, "answer": out["answer"].content,
        "spend": {"calls": spend.calls, "tokens": spend.total_tokens,
                  "by_role": {role: line.calls for role, line in spend.by_role.items()}},
    }))  # fmt: skip


def test_a_run_paused_for_review_and_resumed_in_another_process_reports_the_whole_spend(tmp_path):
    # The spend of the draft, its scoring and the critique lives in the checkpoint, not in this process.
    saver = InMemorySaver()
    graph, models = _counted_refine_graph(saver, drafts=["3 + 4 = 8. Answer: 8"], judgements=['{"score": 0}'],
                                          critiques=["Check the sum."], edits=[])  # fmt: skip
    paused = graph.invoke({"question": QUESTION}, _thread("across"))
    assert paused["__interrupt__"][0].value["feedback"] == "Check the sum."
    here = {role: model.calls for role, model in models.items()}
    assert here == {"generate": 1, "critic": 1, "editor": 0, "scorer": 1}
    saved = tmp_path / "saver.pickle"
    saved.write_bytes(pickle.dumps(_saved(saver)))
    root = Path(__file__).parents[2]
    code = f"import tests.langgraph.test_refine_graph as test; test.resume_in_this_process({str(saved)!r})"
    child = subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                           capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert "unregistered type" not in child.stderr  # the log is plain data: no class to trust on the way in
    there = report["calls"]
    assert there == {"generate": 0, "critic": 0, "editor": 1, "scorer": 1}
    assert report["answer"] == "3 + 4 = 7. Answer: 7"
    calls = sum(here.values()) + sum(there.values())
    assert report["spend"] == {
        "calls": calls, "tokens": calls * 15, "by_role": {"generator": 1, "verifier": 2, "critic": 1, "editor": 1},
    }  # fmt: skip
