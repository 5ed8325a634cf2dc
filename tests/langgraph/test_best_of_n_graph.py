import threading
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from tests.budgets import budget_with_calls_left
from tests.injections import CLOSING_TAGS, INJECTED_ORDER, QUOTED_SCORE_REPLY, as_read, closing_tags, injected_answer
from tests.langchain.fakes import FencedJudgeModel, ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, TTCResult, Verdict, budget_scope
from ttc_plugins.langchain import llm_judge
from ttc_plugins.langgraph import TTCContext, TTCResultField, create_best_of_n_graph
from ttc_plugins.verifiers import programmatic

ONE_AT_A_TIME = {"max_concurrency": 1}  # samples, then their judgements, run in index order


def _model(replies, **options):
    return ScriptedChatModel(replies=replies, **options)


def _solve(graph, question="q", config=None, **kwargs):
    return graph.invoke({"question": question}, config, **kwargs)


class ScoresByAnswer:
    """A verifier scoring each final answer from a table (unknown answers score 0), counting its calls."""

    def __init__(self, table):
        self.check = programmatic(lambda question, answer: table.get(answer, 0.0))
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, question, candidate):
        with self._lock:
            self.calls += 1
        return self.check(question, candidate)


def _judge(score, **options):
    """An LLM judge whose model always gives ``score``/10."""
    return llm_judge(_model([f'{{"score": {score}}}'], **options), structured=False)


def test_the_best_scored_sample_wins_and_the_result_shows_every_score_and_the_spend():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3"])
    verifier = ScoresByAnswer({"1": 0.2, "2": 0.9, "3": 0.5})
    out = _solve(create_best_of_n_graph(model, verifier, n=3), config=ONE_AT_A_TIME)
    result = out["result"]
    assert out["answer"] == "2"
    assert isinstance(result, TTCResult)
    assert (result.chosen, result.answer, result.stop_reason) == (1, "2", "done")
    assert result.output.content == "Answer: 2"
    assert [c.score for c in out["candidates"]] == [0.2, 0.9, 0.5]
    assert result.candidates[1].verdict.critique.endswith("passed")
    assert model.calls == verifier.calls == result.spend.calls == 3


def test_threshold_stops_at_the_first_good_enough_sample_not_the_best():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4"])
    verifier = ScoresByAnswer({"1": 0.1, "2": 0.95, "3": 0.99, "4": 1.0})
    graph = create_best_of_n_graph(model, verifier, n=8, threshold=0.9, wave_size=3)
    result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert model.calls == verifier.calls == 3  # one wave of 3; sampling stopped once a candidate reached 0.9
    assert (result.stop_reason, result.answer, result.chosen) == ("threshold", "2", 1)  # not the later 0.99


def test_threshold_samples_wave_after_wave_until_a_judged_sample_reaches_it():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4", "Answer: 5", "Answer: 6"])
    verifier = ScoresByAnswer({"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.5, "5": 0.9, "6": 0.2})
    graph = create_best_of_n_graph(model, verifier, n=8, threshold=0.9, wave_size=2)
    result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert model.calls == verifier.calls == 6  # waves of 2: the third wave's first sample reached 0.9
    assert (result.stop_reason, result.answer) == ("threshold", "5")


def test_weighted_selection_can_overturn_a_raw_majority():
    model = _model(["Answer: 4", "Answer: 5", "Answer: 5"])
    graph = create_best_of_n_graph(model, ScoresByAnswer({"4": 0.9, "5": 0.2}), n=3, weighted=True)
    result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert (result.answer, result.chosen) == ("4", 0)  # 0.9 beats 0.2 + 0.2 although "5" has two votes
    assert [c.votes for c in result.candidates] == [1, 2, 2]


def test_weighted_lets_a_sure_majority_beat_one_lucky_high_score_where_best_of_n_does_not():
    replies, table = ["Answer: 4", "Answer: 5", "Answer: 5"], {"4": 0.6, "5": 0.5}
    weighted = create_best_of_n_graph(_model(replies), ScoresByAnswer(table), n=3, weighted=True)
    single = create_best_of_n_graph(_model(replies), ScoresByAnswer(table), n=3)
    assert _solve(weighted, config=ONE_AT_A_TIME)["answer"] == "5"  # 0.5 + 0.5 beats 0.6
    assert _solve(single, config=ONE_AT_A_TIME)["answer"] == "4"


def test_garbage_from_the_verifier_fails_only_that_candidate():
    replies = {"Answer: 1": 0.3, "Answer: 2": "definitely!", "Answer: 3": 0.8}
    model = _model(list(replies))
    result = _solve(create_best_of_n_graph(model, lambda q, c: replies[c.content], n=3), config=ONE_AT_A_TIME)["result"]
    assert result.answer == "3"
    assert [c.index for c in result.failures] == [1]
    assert result.failures[0].error.startswith("verification failed: verifier returned str")
    assert result.candidates[1].output.content == "Answer: 2"  # the failed candidate keeps its output


def test_a_verifier_that_raises_on_some_candidates_leaves_the_others():
    def verifier(question, candidate):
        if "2" in candidate.content:
            raise TimeoutError("judge timed out")
        return 0.4

    graph = create_best_of_n_graph(_model(["Answer: 1", "Answer: 2"]), verifier, n=2)
    result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert result.answer == "1"
    assert [(c.index, c.error) for c in result.failures] == [(1, "verification failed: TimeoutError: judge timed out")]


def test_a_failed_sample_is_kept_and_never_sent_to_the_verifier():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3"], fail_on=frozenset({1}))
    verifier = ScoresByAnswer({"1": 0.4, "3": 0.6})
    result = _solve(create_best_of_n_graph(model, verifier, n=3), config=ONE_AT_A_TIME)["result"]
    assert (result.answer, verifier.calls) == ("3", 2)
    assert [(c.index, c.error) for c in result.failures] == [(1, "RuntimeError: provider error on call 1")]


def test_when_no_candidate_can_be_verified_the_graph_raises_with_the_first_failure():
    graph = create_best_of_n_graph(_model(["Answer: 1"]), lambda q, c: None, n=2)
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned NoneType"):
        _solve(graph)


def test_when_every_sample_fails_the_graph_raises_without_calling_the_verifier():
    verifier = ScoresByAnswer({})
    graph = create_best_of_n_graph(_model(["x"], fail_on=frozenset(range(10))), verifier, n=3)
    with pytest.raises(AllCandidatesFailed, match="first failure: RuntimeError: provider error on call 0"):
        _solve(graph, config=ONE_AT_A_TIME)
    assert verifier.calls == 0


async def test_an_async_verifier_under_ainvoke_and_under_invoke():
    async def verifier(question, candidate):
        return Verdict(score=1.0 if candidate.content.endswith("2") else 0.0, critique=f"checked {question}")

    graph = create_best_of_n_graph(_model(["Answer: 1", "Answer: 2"]), verifier, n=2)
    out = await graph.ainvoke({"question": "1 + 1?"}, ONE_AT_A_TIME)
    assert (out["answer"], out["result"].candidates[1].verdict.critique) == ("2", "checked 1 + 1?")
    again = create_best_of_n_graph(_model(["Answer: 1", "Answer: 2"]), verifier, n=2)
    assert _solve(again, config=ONE_AT_A_TIME)["answer"] == "2"  # the same async verifier, from a sync graph


async def test_an_async_generator_and_llm_judge_under_ainvoke_are_charged_to_the_scope():
    model = _model(["Answer: 9"])

    async def ask(question):
        return await model.ainvoke(question)

    budget = Budget()
    with budget_scope(budget):
        out = await create_best_of_n_graph(ask, _judge(7), n=3).ainvoke({"question": "q"})
    assert (out["answer"], [c.score for c in out["candidates"]]) == ("9", [0.7, 0.7, 0.7])
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 3, "verifier": 3}
    assert out["result"].spend.calls == 6


def test_an_llm_judge_sees_the_question_and_each_candidate_and_is_charged_as_verifier():
    generator = _model(["Answer: 6", "Answer: 7"], max_tokens=20)
    judge_model = FencedJudgeModel(truth="7", structured=False)
    budget = Budget()
    with budget_scope(budget):
        out = _solve(create_best_of_n_graph(generator, llm_judge(judge_model), n=2), "3 + 4?", ONE_AT_A_TIME)
    assert (out["answer"], [c.score for c in out["candidates"]]) == ("7", [0.0, 0.9])
    assert len(judge_model.prompts) == 2
    assert all("<question>\n3 + 4?\n</question>" in prompt for prompt in judge_model.prompts)
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "verifier": 2}
    assert out["result"].spend.calls == 4


@pytest.mark.parametrize("closing_tag", CLOSING_TAGS)
def test_a_sample_cannot_end_the_judges_fence_with_any_spelling_of_its_closing_tag(closing_tag):
    judge_model = FencedJudgeModel(truth="7", structured=False)
    graph = create_best_of_n_graph(_model([injected_answer(closing_tag)]), llm_judge(judge_model), n=1)
    assert [c.score for c in _solve(graph, "3 + 4?")["candidates"]] == [0.0]
    prompt = as_read(judge_model.prompts[-1])
    tags = closing_tags(prompt)
    assert len(tags) == 1 and prompt.index(INJECTED_ORDER) < tags[0].start()


def test_the_judges_verdict_is_its_first_not_a_score_it_quotes_after():
    judge = llm_judge(_model([QUOTED_SCORE_REPLY]), structured=False)
    out = _solve(create_best_of_n_graph(_model(["Answer: 5"]), judge, n=1), "3 + 4?")
    assert [c.score for c in out["candidates"]] == [0.2]


def test_a_verifier_runnable_of_ones_own_is_given_question_and_candidate_and_charged_as_verifier():
    grader = _model(["0.3", "0.8"])
    seen = []

    def grade(pair):
        seen.append((pair["question"], pair["candidate"].content))
        return float(grader.invoke(f"Grade {pair['candidate'].content}").content)

    budget = Budget()
    generator = _model(["Answer: 1", "Answer: 2"])
    with budget_scope(budget):
        out = _solve(create_best_of_n_graph(generator, RunnableLambda(grade), n=2), "1 + 1?", ONE_AT_A_TIME)
    assert (out["answer"], seen) == ("2", [("1 + 1?", "Answer: 1"), ("1 + 1?", "Answer: 2")])
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 2, "verifier": 2}


def test_the_budget_stops_generation_and_the_best_affordable_sample_wins():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3"])
    verifier = ScoresByAnswer({"1": 0.3, "2": 0.6})
    budget = budget_with_calls_left(5, 2)
    with budget_scope(budget):
        result = _solve(create_best_of_n_graph(model, verifier, n=5), config=ONE_AT_A_TIME)["result"]
    assert (result.stop_reason, result.answer, model.calls, verifier.calls) == ("budget", "2", 2, 2)
    assert [c.budget_refused for c in result.candidates] == [False] * 2 + [True] * 3
    assert (budget.spent.calls, result.spend.calls) == (5, 2)


def test_a_judgement_the_budget_cannot_pay_for_stops_the_run():
    generator = _model(["Answer: 7"], max_tokens=10)
    budget = Budget(max_calls=3)  # 2 samples + 1 judgement; the second judgement is refused
    graph = create_best_of_n_graph(generator, _judge(8, max_tokens=10), n=6, threshold=0.9, wave_size=2)
    with budget_scope(budget):
        result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert generator.calls == 2  # no second wave, although no sample reached the threshold
    assert (result.stop_reason, result.chosen) == ("budget", 0)
    assert [c.score for c in result.candidates] == [0.8, None]
    assert result.candidates[1].budget_refused
    assert result.candidates[1].error.startswith("verification refused: max_calls=3")
    assert budget.spent.calls == result.spend.calls == 3


def test_when_the_budget_pays_for_the_samples_but_no_judgement_a_sample_is_returned_unverified():
    graph = create_best_of_n_graph(_model(["Answer: 7"]), _judge(8), n=2)
    with budget_scope(Budget(max_calls=2)):
        result = _solve(graph, config=ONE_AT_A_TIME)["result"]
    assert (result.answer, result.stop_reason, result.chosen) == ("7", "budget", 0)
    assert result.events[-1].kind == "unverified_choice" and "max_calls=2" in result.events[-1].data["reason"]


def test_a_budget_too_small_for_one_sample_raises_naming_the_limit():
    verifier = ScoresByAnswer({})
    graph = create_best_of_n_graph(_model(["Answer: 1"], max_tokens=20), verifier, n=4)
    with budget_scope(Budget(max_total_tokens=5)), pytest.raises(BudgetExceeded, match="max_total_tokens=5"):
        _solve(graph)
    assert verifier.calls == 0


def test_a_budget_in_the_runtime_context_is_charged_without_a_scope():
    model = _model(["Answer: 5", "Answer: 6", "Answer: 5"])
    budget = budget_with_calls_left(5, 2)
    graph = create_best_of_n_graph(model, ScoresByAnswer({"5": 0.5, "6": 0.7}), n=5)
    result = _solve(graph, config=ONE_AT_A_TIME, context=TTCContext(budget=budget))["result"]
    assert (result.answer, result.stop_reason) == ("6", "budget")
    assert (budget.spent.calls, result.spend.calls, model.calls) == (5, 2, 2)
    with pytest.raises(BudgetExceeded, match="max_calls=5"):
        _solve(graph, context={"budget": budget})  # nothing is left
    assert model.calls == 2


def test_samples_and_judgements_run_in_parallel_branches():
    generator = _model(["Answer: 1"], delay=0.05)
    judge_model = _model(['{"score": 5}'], delay=0.05)
    graph = create_best_of_n_graph(generator, llm_judge(judge_model, structured=False), n=6)
    out = _solve(graph, config={"max_concurrency": 3})
    assert generator.calls == judge_model.calls == 6
    assert generator.peak_active == judge_model.peak_active == 3
    assert [c.index for c in out["candidates"]] == [0, 1, 2, 3, 4, 5]


async def test_custom_stream_events_report_each_sample_each_judgement_then_the_selection():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4"], fail_on=frozenset({1}))
    verifier = ScoresByAnswer({"1": 0.2, "3": 0.95, "4": 0.3})
    graph = create_best_of_n_graph(model, verifier, n=6, threshold=0.9, wave_size=2)
    # astream: LangGraph 1.2's sync stream(stream_mode="custom") deadlocks at max_concurrency=1.
    events = [e async for e in graph.astream({"question": "q"}, ONE_AT_A_TIME, stream_mode="custom")]
    calls = [(e["role"], e["step"], e["call"], e["error"]) for e in events if e["event"] == "call_done"]
    assert calls == [
        ("generator", 0, 0, None),
        ("generator", 0, 1, "RuntimeError: provider error on call 1"),
        ("verifier", 1, 0, None),  # only the usable sample is judged
        ("generator", 2, 0, None),
        ("generator", 2, 1, None),
        ("verifier", 3, 0, None),
        ("verifier", 3, 1, None),
    ]
    assert events[-1] == {"event": "finish", "chosen": 2, "score": 0.95, "stop_reason": "threshold"}


def test_a_failed_judgement_is_reported_in_the_stream():
    replies = {"Answer: 1": "great", "Answer: 2": 0.4}
    graph = create_best_of_n_graph(_model(list(replies)), lambda q, c: replies[c.content], n=2)
    events = list(graph.stream({"question": "q"}, stream_mode="custom"))
    judged = [e for e in events if e["event"] == "call_done" and e["role"] == "verifier"]
    assert len(judged) == 2  # garbage is a reply, not a failed call: the result says what it means
    finish = events[-1]  # which branch drew which reply depends on scheduling; the one scored 0.4 wins
    assert (finish["event"], finish["score"], finish["stop_reason"]) == ("finish", 0.4, "done")


def test_a_plain_function_and_a_custom_input_and_output_key_and_the_verifier_sees_the_question_field():
    seen = []

    def verifier(question, candidate):
        seen.append(question)
        return 1.0 if candidate["answer"].endswith("7") else 0.0

    graph = create_best_of_n_graph(
        lambda task: {"answer": f"Answer: {task['a'] + task['b']}"},
        verifier,
        n=2,
        input_key="task",
        output_key="sum",
    )
    out = graph.invoke({"task": {"question": "a + b?", "a": 2, "b": 5}})
    assert (out["sum"], out["result"].output) == ("7", {"answer": "Answer: 7"})
    assert seen == ["a + b?", "a + b?"]


def test_a_verifier_that_interrupts_for_a_human_resumes_without_generating_again():
    model = _model(["Answer: 1", "Answer: 2"])
    asked = []

    def human_or_rule(question, candidate):
        if candidate.content == "Answer: 1":
            asked.append(candidate.content)
            return float(interrupt({"grade": candidate.content}))
        return 0.5

    graph = create_best_of_n_graph(model, human_or_rule, n=2, checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    paused = _solve(graph, config=thread)
    assert [i.value for i in paused["__interrupt__"]] == [{"grade": "Answer: 1"}]
    out = graph.invoke(Command(resume="0.9"), thread)
    assert model.calls == 2  # the candidate was checkpointed before it was judged
    assert asked == ["Answer: 1", "Answer: 1"]  # the human grades the same candidate the judge resumed on
    assert (out["answer"], [c.score for c in out["candidates"]]) == ("1", [0.9, 0.5])


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
    model = _model(["Answer: 3", "Answer: 4", "Answer: 5"])
    verifier = ScoresByAnswer({"3": 0.2, "4": 0.8, "5": 0.4})
    solver = create_best_of_n_graph(model, verifier, n=3, checkpointer=subgraph_checkpointer)
    parent = _parent(solver, InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    budget = Budget()
    with budget_scope(budget):
        first = parent.invoke({"question": "q1"}, thread)
        second = parent.invoke({"question": "q2"}, thread)
    assert first["answer"] == second["answer"] == "4"
    assert [c.index for c in second["result"].candidates] == [0, 1, 2]
    assert [c.score for c in second["result"].candidates] == [0.2, 0.8, 0.4]
    assert second["result"].spend.calls == 3
    assert budget.spent.calls == model.calls == 6
    assert parent.get_state(thread).values["result"].chosen == 1


def test_a_standalone_graph_with_a_checkpointer_starts_each_run_afresh_and_its_state_survives_serialization():
    saver = InMemorySaver()
    model = _model(["Answer: 3", "Answer: 4"])
    graph = create_best_of_n_graph(model, ScoresByAnswer({"3": 0.3, "4": 0.4}), n=2, checkpointer=saver)
    thread = {"configurable": {"thread_id": "t1"}, **ONE_AT_A_TIME}
    _solve(graph, "q1", thread)
    out = _solve(graph, "q2", thread)
    assert [c.index for c in out["candidates"]] == [0, 1]

    restored = graph.get_state(thread).values
    result = restored["result"]
    assert isinstance(result, TTCResult) and result.model_dump() == out["result"].model_dump()
    assert isinstance(result.output, AIMessage) and result.output.content == "Answer: 4"
    assert [c.verdict.score for c in restored["candidates"]] == [0.3, 0.4]
    stored = saver.get_tuple(thread).checkpoint["channel_values"]
    assert isinstance(stored["result"], dict) and all(isinstance(c, dict) for c in stored["candidates"])


def test_the_graph_describes_its_steps_input_and_output():
    graph = create_best_of_n_graph(lambda q: "Answer: 1", lambda q, c: 1.0, n=2, input_key="task", output_key="sum")
    assert list(graph.get_input_jsonschema()["properties"]) == ["task"]
    assert list(graph.get_output_jsonschema()["properties"]) == ["sum", "candidates", "result"]
    assert set(graph.get_graph().nodes) == {"__start__", "start", "step", "generator", "verifier", "__end__"}
    edges = {(e.source, e.target) for e in graph.get_graph().edges}
    assert {("step", "generator"), ("generator", "step"), ("step", "verifier"), ("verifier", "step")} <= edges


def test_a_state_without_the_input_key_is_refused():
    with pytest.raises(ValueError, match="the state has no 'question'"):
        create_best_of_n_graph(lambda q: "Answer: 1", lambda q, c: 1.0, n=2).invoke({"query": "q"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"threshold": 2.0}, "threshold must be a score in"),
        ({"wave_size": 0}, "wave_size must be a positive integer"),
        ({"input_key": "answer"}, "input_key and output_key must differ"),
        ({"output_key": "result"}, "a key the graph uses itself"),
    ],
)
def test_bad_options_are_rejected_when_the_graph_is_built(options, message):
    with pytest.raises(ValueError, match=message):
        create_best_of_n_graph(lambda q: "x", lambda q, c: 1.0, **options)


def test_the_generator_and_the_verifier_must_be_callable():
    with pytest.raises(TypeError, match="generate must be a Runnable or a callable"):
        create_best_of_n_graph("not a model", lambda q, c: 1.0)
    with pytest.raises(TypeError, match="a verifier must be a Runnable or a callable"):
        create_best_of_n_graph(lambda q: "x", "strict")
