import threading
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, TTCResult, budget_scope
from ttc_plugins.langchain import llm_judge, round_best_scores
from ttc_plugins.langgraph import TTCContext, TTCResultField
from ttc_plugins.langgraph.tpo import create_tpo_graph
from ttc_plugins.verifiers import programmatic

SCORES = {"bad": 0.1, "ok": 0.5, "good": 0.7, "great": 0.9, "best": 1.0}
BY_WORD = programmatic(lambda q, text: SCORES.get(text, 0.0), on="output", name="by word")
ONE_AT_A_TIME = {"max_concurrency": 1}  # branches run in Send order, so queued replies map to indices


def _queue(*texts):
    items, lock = iter(texts), threading.Lock()

    def reply(payload):
        with lock:
            return next(items)

    return RunnableLambda(reply)


def _recorder(log, reply):
    def record(payload):
        log.append(payload)
        return reply

    return RunnableLambda(record)


def _solve(graph, config=ONE_AT_A_TIME, **kwargs):
    return graph.invoke({"question": "Describe it."}, config, **kwargs)


def test_chosen_and_rejected_are_the_best_and_worst_scored_and_feed_the_next_round():
    losses, gradients, updates = [], [], []
    graph = create_tpo_graph(
        _queue("ok", "bad", "good"),
        scorer=BY_WORD,
        samples=3,
        rounds=1,
        loss=_recorder(losses, "good is specific"),
        gradient=_recorder(gradients, "be specific"),
        update=_recorder(updates, "great"),
    )
    out = _solve(graph)
    result = out["result"]
    assert (losses[0]["chosen"], losses[0]["rejected"]) == ("good", "bad")
    assert (losses[0]["chosen_score"], losses[0]["rejected_score"]) == (0.7, 0.1)
    assert gradients == [{"question": "Describe it.", "loss": "good is specific"}]
    assert updates == [{"question": "Describe it.", "chosen": "good", "gradient": "be specific"}] * 3
    assert (out["answer"], result.stop_reason) == ("great", "done")
    assert round_best_scores(result) == [0.7, 0.9]
    gradient = next(e.data for e in result.events if e.kind == "textual_gradient")
    assert gradient == {"round": 1, "chosen": 2, "rejected": 1, "loss": "good is specific", "gradient": "be specific"}
    assert [c.index for c in out["candidates"]] == list(range(6))


def test_every_role_is_charged_and_the_budget_stops_mid_round():
    model = ScriptedChatModel(replies=["bad", "good", "loss text", "gradient text", "best", "best"], max_tokens=10)
    budget = Budget(max_calls=4)  # 2 samples, the loss, the gradient; the rewrite is refused
    with budget_scope(budget):
        result = _solve(create_tpo_graph(model, scorer=BY_WORD, samples=2, rounds=1))["result"]
    assert result.stop_reason == "budget"
    assert result.output.content == "good"
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "critic": 2}
    assert [c.budget_refused for c in result.candidates] == [False, False, True, True]
    assert round_best_scores(result) == [0.7, None]
    assert sum(line.total_tokens for line in result.spend.by_role.values()) == result.spend.total_tokens == 60


def test_a_budget_refusing_a_judgement_ends_the_run_after_that_round():
    judge = ScriptedChatModel(replies=['{"score": 5}', '{"score": 1}'], model_name="judge", max_tokens=10)
    budget = Budget(max_calls=3)  # the other steps are functions: three judgements fit, the fourth does not
    graph = create_tpo_graph(
        _queue("ok", "bad"),
        scorer=llm_judge(judge, structured=False),
        samples=2,
        rounds=3,
        loss=_queue("l"),
        gradient=_queue("g"),
        update=_queue("good", "great"),
    )
    result = _solve(graph, context=TTCContext(budget=budget))["result"]
    assert (result.stop_reason, result.chosen) == ("budget", 0)
    refused = [(c.score, c.budget_refused) for c in result.candidates]
    assert refused == [(0.5, False), (0.1, False), (0.5, False), (None, True)]
    assert round_best_scores(result) == [0.5, 0.5]
    assert {role: line.calls for role, line in result.spend.by_role.items()} == {"verifier": 3}
    assert budget.spent.calls == 3


def test_custom_stream_events_report_the_best_score_of_each_round():
    graph = create_tpo_graph(
        _queue("ok", "bad"),
        scorer=BY_WORD,
        samples=2,
        rounds=2,
        loss=_queue("l1", "l2"),
        gradient=_queue("g1", "g2"),
        update=RunnableLambda(lambda d: {"g1": "good", "g2": "great"}[d["gradient"]]),
    )
    # Not with max_concurrency=1: langgraph 1.2.22 never delivers the custom stream under it.
    events = list(graph.stream({"question": "q"}, stream_mode="custom"))
    assert [e for e in events if e["event"] == "round_best"] == [
        {"event": "round_best", "round": 0, "best_score": 0.5},
        {"event": "round_best", "round": 1, "best_score": 0.7},
        {"event": "round_best", "round": 2, "best_score": 0.9},
    ]
    generated = [e for e in events if e["event"] == "call_done" and e["role"] == "generator"]
    assert [(e["target"], e["error"]) for e in generated] == [("generate", None)] * 2 + [("update", None)] * 4
    assert [e["event"] for e in events].count("textual_gradient") == 2
    assert events[-1] == {"event": "finish", "chosen": 4, "score": 0.9, "stop_reason": "done"}


def test_two_runs_on_one_thread_do_not_pile_up_responses_or_events():
    model = ScriptedChatModel(replies=["ok", "bad"], max_tokens=10)
    graph = create_tpo_graph(
        model,
        scorer=BY_WORD,
        samples=2,
        rounds=1,
        loss=_queue("l", "l"),
        gradient=_queue("g", "g"),
        update=_queue("good", "good", "good", "good"),
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    first = _solve(graph, thread)["result"]
    second = _solve(graph, thread)["result"]
    assert [c.index for c in second.candidates] == [0, 1, 2, 3]
    assert (
        [e.kind for e in second.events]
        == [e.kind for e in first.events]
        == [
            "round_best",
            "textual_gradient",
            "round_best",
        ]
    )
    assert first.spend.calls == second.spend.calls == 2
    restored = graph.get_state(thread).values["result"]
    assert isinstance(restored, TTCResult) and isinstance(restored.candidates[0].output, AIMessage)


def test_nothing_scoreable_raises():
    graph = create_tpo_graph(
        _queue("ok", "bad"),
        scorer=lambda q, c: "great!",
        samples=2,
        rounds=1,
        loss=_queue(),
        gradient=_queue(),
        update=_queue(),
    )
    with pytest.raises(AllCandidatesFailed, match="scoring failed: verifier returned str"):
        _solve(graph)


@pytest.mark.parametrize(("options", "fragment"), [({"samples": 1}, "at least 2"), ({"rounds": -1}, "rounds")])
def test_bad_options_are_rejected(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        create_tpo_graph(_queue("x"), scorer=BY_WORD, loss=_queue(), gradient=_queue(), update=_queue(), **options)


def test_without_a_model_to_default_to_the_missing_step_is_named():
    with pytest.raises(ValueError, match="to act as loss; pass loss="):
        create_tpo_graph(_queue("x"), scorer=BY_WORD)


class ParentState(TypedDict, total=False):
    question: str
    answer: str
    result: TTCResultField


def test_as_a_subgraph_it_is_charged_to_the_budget_in_the_parents_context():
    model = ScriptedChatModel(replies=["ok", "bad", "loss", "gradient", "great", "great"], max_tokens=10)
    builder = StateGraph(ParentState)
    builder.add_node("tpo", create_tpo_graph(model, scorer=BY_WORD, samples=2, rounds=1))
    builder.add_edge(START, "tpo")
    builder.add_edge("tpo", END)
    budget = Budget(max_calls=10)
    out = builder.compile().invoke({"question": "q"}, ONE_AT_A_TIME, context=TTCContext(budget=budget))
    assert (out["answer"].content, out["result"].stop_reason) == ("great", "done")
    assert budget.spent.calls == out["result"].spend.calls == model.calls == 6


def test_a_run_stopped_midway_and_resumed_by_a_new_graph_reports_the_whole_spend():
    # The run's spend is logged in its state, not kept by the graph object that started it: a graph
    # built anew (as in another process) over the same checkpointer reports every call of the run.
    saver = InMemorySaver()

    def build(*replies):
        model = ScriptedChatModel(replies=list(replies), max_tokens=10)  # 10 + 5 tokens a call
        return create_tpo_graph(model, scorer=BY_WORD, samples=2, rounds=1, checkpointer=saver), model

    thread = {"configurable": {"thread_id": "resumed"}, **ONE_AT_A_TIME}
    first, first_model = build("ok", "bad")
    first.invoke({"question": "q"}, thread, interrupt_before=["critic"])
    assert first_model.calls == 2
    second, second_model = build("loss", "gradient", "great", "great")
    result = second.invoke(None, thread)["result"]
    assert second_model.calls == 4
    assert (result.output.content, result.stop_reason) == ("great", "done")
    assert result.spend.calls == 6
    assert {role: line.calls for role, line in result.spend.by_role.items()} == {"generator": 4, "critic": 2}
    assert result.spend.total_tokens == 6 * 15


def test_a_refusal_by_a_budget_made_inside_a_call_fails_that_response_only():
    def capped_tool(question):
        from ttc_plugins import current_budget

        cap = current_budget().child(max_calls=1, name="tool cap")
        cap.reserve(1, 1).commit(1, 1)
        cap.reserve(1, 1)  # the tool's own cap refuses: this response fails, the run goes on

    answers = iter(["ok", None, "bad"])
    generate = RunnableLambda(lambda q: next(answers) or capped_tool(q))
    graph = create_tpo_graph(
        generate, scorer=BY_WORD, samples=3, rounds=0, loss=_queue(), gradient=_queue(), update=_queue()
    )
    result = _solve(graph, context=TTCContext(budget=Budget(max_calls=100)))["result"]
    assert (result.output, result.stop_reason) == ("ok", "done")
    failed = result.candidates[1]
    assert failed.error.startswith("BudgetExceeded:") and not failed.budget_refused


def test_each_call_says_in_its_metadata_what_it_was_for():
    from langchain_core.callbacks import BaseCallbackHandler

    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.seen = []

        def on_chat_model_start(self, serialized, messages, *, metadata, **kwargs):
            self.seen.append(tuple(metadata.get(k) for k in ("ttc_family", "ttc_role", "ttc_target", "ttc_step")))

    recorder = Recorder()
    model = ScriptedChatModel(replies=["ok", "bad", "loss", "gradient", "great", "great"], max_tokens=10)
    graph = create_tpo_graph(model, scorer=BY_WORD, samples=2, rounds=1)
    _solve(graph, {**ONE_AT_A_TIME, "callbacks": [recorder]})
    assert recorder.seen == [
        ("tpo", "generator", "generate", 0), ("tpo", "generator", "generate", 0),
        ("tpo", "critic", "loss", 2), ("tpo", "critic", "gradient", 3),
        ("tpo", "generator", "update", 4), ("tpo", "generator", "update", 4),
    ]  # fmt: skip
