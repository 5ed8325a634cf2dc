import asyncio
from typing import TypedDict

import pytest
from langgraph.graph import START, StateGraph

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import analogical, budget_forcing, chain_of_draft, chain_of_thought, step_back
from ttc_plugins.langgraph import TTCContext, TTCResultField, sampled_node
from ttc_plugins.langgraph.prompting import create_prompting_graph, prompting_node

QUESTION = "What is 3 + 4?"
ONE_AT_A_TIME = {"max_concurrency": 1}


class State(TypedDict, total=False):
    question: str
    answer: str | None
    work: str
    ttc_result: TTCResultField


def _graph(node):
    builder = StateGraph(State, context_schema=TTCContext)
    builder.add_node("solve", node)
    builder.add_edge(START, "solve")
    return builder.compile()


def _roles(budget):
    return {role: line.calls for role, line in budget.spent.by_role.items()}


async def _custom_events(graph, state, **kwargs):
    return [chunk async for chunk in graph.astream(state, stream_mode="custom", **kwargs)]


def test_a_chain_of_draft_node_writes_the_answer_after_the_hashes_and_the_work():
    model = ScriptedChatModel(replies=["3 + 4 = 7.\n#### 7"])
    out = _graph(prompting_node(chain_of_draft(model), work_key="work")).invoke({"question": QUESTION})
    assert (out["answer"], out["work"]) == ("7", "3 + 4 = 7.\n#### 7")
    assert model.calls == 1


def test_a_chain_of_thought_node_writes_the_answer_after_the_marker_and_leaves_work_out_by_default():
    model = ScriptedChatModel(replies=["Three plus four is seven.\nAnswer: 7"])
    out = _graph(prompting_node(chain_of_thought(model))).invoke({"question": QUESTION})
    assert out == {"question": QUESTION, "answer": "7"}


def test_custom_keys_are_read_and_written():
    class Custom(TypedDict, total=False):
        problem: str
        final: str | None
        reasoning: str

    builder = StateGraph(Custom)
    model = ScriptedChatModel(replies=["Like 2 + 2 = 4, so 3 + 4 = 7.\nAnswer: 7"])
    node = prompting_node(analogical(model), input_key="problem", output_key="final", work_key="reasoning")
    builder.add_node("solve", node)
    builder.add_edge(START, "solve")
    out = builder.compile().invoke({"problem": QUESTION})
    assert out == {"problem": QUESTION, "final": "7", "reasoning": "Like 2 + 2 = 4, so 3 + 4 = 7.\nAnswer: 7"}


def test_no_extractable_answer_writes_none():
    model = ScriptedChatModel(replies=["I am not sure."])
    out = _graph(prompting_node(chain_of_thought(model), work_key="work")).invoke({"question": QUESTION})
    assert (out["answer"], out["work"]) == (None, "I am not sure.")


def test_self_consistency_over_a_chain_of_draft_node_makes_n_calls_and_keeps_the_majority():
    model = ScriptedChatModel(replies=["#### 8", "3 + 4 = 7.\n#### 7", "#### 7", "#### 9", "#### 7"])
    node = sampled_node(prompting_node(chain_of_draft(model), work_key="work"), n=5)
    budget = Budget()
    with budget_scope(budget):
        out = _graph(node).invoke({"question": QUESTION}, ONE_AT_A_TIME)
    assert (out["answer"], out["work"]) == ("7", "3 + 4 = 7.\n#### 7")  # the first update with the winning answer
    assert [c.answer for c in out["ttc_result"].candidates] == ["8", "7", "7", "9", "7"]
    assert [c.votes for c in out["ttc_result"].candidates] == [1, 3, 3, 1, 3]
    assert model.calls == budget.spent.calls == out["ttc_result"].spend.calls == 5


def test_the_callers_budget_scope_charges_step_back_by_role():
    model = ScriptedChatModel(replies=["Addition combines two amounts.", "3 + 4 = 7.\nAnswer: 7"])
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        out = _graph(prompting_node(step_back(model), work_key="work")).invoke({"question": QUESTION})
    assert (out["answer"], out["work"]) == ("7", "3 + 4 = 7.\nAnswer: 7")
    assert _roles(budget) == {"step_back": 1, "generator": 1}
    assert budget.spent.total_tokens == 30


def test_a_transform_returning_its_result_gives_the_results_answer():
    model = ScriptedChatModel(replies=["Addition combines two amounts.", "3 + 4 = 7.\nAnswer: 7"])
    out = _graph(prompting_node(step_back(model, return_result=True), work_key="work")).invoke({"question": QUESTION})
    assert (out["answer"], out["work"]) == ("7", "3 + 4 = 7.\nAnswer: 7")


def test_budget_forcing_node_is_charged_to_thinking_and_answer():
    model = ScriptedChatModel(replies=["3 + 4 = 7.", "Checking again: yes, 7.", "7"])
    solver = budget_forcing(model, min_thinking_tokens=10, max_thinking_tokens=100, max_waits=1)
    budget = Budget()
    with budget_scope(budget):
        out = _graph(prompting_node(solver, work_key="work")).invoke({"question": QUESTION})
    assert out["answer"] == "7"
    assert out["work"].endswith("Final Answer: 7")
    assert _roles(budget) == {"thinking": 2, "answer": 1}


def test_budget_forcing_node_continues_through_a_completions_model():
    from tests.langchain.fakes import ScriptedCompletionModel
    from ttc_plugins.chat_templates import CHATML

    model = ScriptedCompletionModel(replies=["3 + 4 = 7.", " Checking again: 7.", " 7"])
    solver = budget_forcing(model, min_thinking_tokens=10, max_waits=1, chat_template=CHATML)
    budget = Budget()
    with budget_scope(budget):
        out = _graph(prompting_node(solver, work_key="work")).invoke({"question": QUESTION})
    assert (out["answer"], out["work"]) == ("7", "3 + 4 = 7. Wait Checking again: 7.\nFinal Answer: 7")
    assert model.prompts[1].endswith("<|im_start|>assistant\n3 + 4 = 7. Wait")
    assert _roles(budget) == {"thinking": 2, "answer": 1}


def test_the_context_budget_is_charged():
    model = ScriptedChatModel(replies=["Answer: 7"])
    budget = Budget(max_calls=5, name="team")
    out = _graph(prompting_node(chain_of_thought(model))).invoke({"question": QUESTION}, context=TTCContext(budget))
    assert out["answer"] == "7"
    assert budget.spent.calls == 1


def test_sampling_under_a_context_budget_charges_it_once_per_call():
    model = ScriptedChatModel(replies=["#### 7", "#### 7", "#### 8"])
    budget = Budget(max_calls=10)
    node = sampled_node(prompting_node(chain_of_draft(model)), n=3)
    out = _graph(node).invoke({"question": QUESTION}, ONE_AT_A_TIME, context=TTCContext(budget))
    assert out["answer"] == "7"
    assert budget.spent.calls == out["ttc_result"].spend.calls == 3


def test_the_answered_event_arrives_on_the_custom_stream():
    model = ScriptedChatModel(replies=["#### 7"])
    graph = _graph(prompting_node(chain_of_draft(model)))
    assert asyncio.run(_custom_events(graph, {"question": QUESTION})) == [{"event": "answered", "answer": "7"}]


def test_an_async_node_invokes_the_transform_asynchronously_and_streams_its_event():
    model = ScriptedChatModel(replies=["Addition combines two amounts.", "Answer: 7"])
    budget = Budget()

    async def run():
        with budget_scope(budget):
            return await _custom_events(_graph(prompting_node(step_back(model), asynchronous=True)), {"question": "q"})

    assert asyncio.run(run()) == [{"event": "answered", "answer": "7"}]
    assert _roles(budget) == {"step_back": 1, "generator": 1}


def test_the_prompting_graph_works_as_a_subgraph_sync_and_async():
    model = ScriptedChatModel(replies=["3 + 4 = 7.\n#### 7"])
    graph = create_prompting_graph(chain_of_draft(model), work_key="work")
    assert graph.name == "chain_of_draft"
    assert graph.invoke({"question": QUESTION}) == {"answer": "7", "work": "3 + 4 = 7.\n#### 7"}
    parent = _graph(graph)
    budget = Budget()
    with budget_scope(budget):
        assert parent.invoke({"question": QUESTION}) == {
            "question": QUESTION,
            "answer": "7",
            "work": "3 + 4 = 7.\n#### 7",
        }
        chunks = asyncio.run(_custom_events(parent, {"question": QUESTION}, subgraphs=True))
    assert [event for _, event in chunks] == [{"event": "answered", "answer": "7"}]
    assert budget.spent.calls == 2


def test_the_prompting_graph_takes_the_context_budget():
    model = ScriptedChatModel(replies=["Answer: 7"])
    budget = Budget()
    out = create_prompting_graph(chain_of_thought(model)).invoke({"question": QUESTION}, context=TTCContext(budget))
    assert out == {"answer": "7"}
    assert budget.spent.calls == 1


def test_bad_arguments_fail_when_the_node_is_built_and_a_missing_question_when_it_runs():
    with pytest.raises(TypeError, match="Runnable"):
        prompting_node(lambda question: "Answer: 7")
    with pytest.raises(ValueError, match="must differ"):
        prompting_node(chain_of_thought(ScriptedChatModel(replies=["x"])), work_key="answer")
    with pytest.raises(ValueError, match="non-empty"):
        create_prompting_graph(chain_of_thought(ScriptedChatModel(replies=["x"])), input_key="")
    with pytest.raises(KeyError, match="question"):
        _graph(prompting_node(chain_of_thought(ScriptedChatModel(replies=["x"])))).invoke({"answer": "x"})
