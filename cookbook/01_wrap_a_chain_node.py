"""Recipe 1: make a chain and a LangGraph node answer by majority vote (self-consistency), under a budget.

Run:  python cookbook/01_wrap_a_chain_node.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows:
- `self_consistency(chain, n=8)` is a drop-in Runnable: it returns what the chain returns;
- `.with_result()` shows every sample, its extracted answer and votes, the spend and the stop reason;
- `adaptive=True` stops as soon as more samples could not change the winner (fewer tokens, same answer);
- inside a budget, sampling stops at the limit and the vote uses what was affordable;
- in LangGraph: `sampled_node(node, n=5)` runs an existing node function 5 times and keeps the
  majority's update, and `create_self_consistency_graph` is a subgraph a parent adds as a node.
"""

from typing import TypedDict

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import START, StateGraph

from ttc_plugins import Budget, TTCResult, budget_scope
from ttc_plugins.answers import extract_answer
from ttc_plugins.langchain import self_consistency
from ttc_plugins.langgraph import create_self_consistency_graph, sampled_node
from ttc_plugins.local import local_chat_model, model_endpoint

PROMPT = "{question} Think step by step, then give the final answer on the last line in the form 'Answer: <answer>'."


def show(title: str, result) -> None:
    spend = result.spend
    print(f"\n{title}: answer {result.answer!r}, stop {result.stop_reason!r}, ", end="")
    print(f"{spend.calls} calls, {spend.total_tokens} tokens")
    for candidate in result.candidates:
        status = (
            "refused by budget"
            if candidate.budget_refused
            else (candidate.error or f"answer {candidate.answer!r}, {candidate.votes} votes")
        )
        print(f"  #{candidate.index}: {status}")


def main() -> None:
    with model_endpoint() as (base_url, model):
        llm = local_chat_model(base_url, model=model, max_tokens=128, temperature=0.7)
        chain = ChatPromptTemplate.from_messages([("user", PROMPT)]) | llm | StrOutputParser()
        question = {"question": "What is 5 + 8?"}

        voter = self_consistency(chain, n=8)
        print("drop-in output:", voter.invoke(question, {"max_concurrency": 2})[-80:])

        show("all 8 samples", voter.with_result().invoke(question, {"max_concurrency": 2}))
        show("adaptive", self_consistency(chain, n=8, adaptive=True).with_result().invoke(question))

        budget = Budget(max_total_tokens=500)
        with budget_scope(budget):
            show("inside a 500-token budget", voter.with_result().invoke(question, {"max_concurrency": 1}))

        # LangGraph: an existing node, sampled 5 times; and the strategy as a subgraph of a parent graph.
        class State(TypedDict, total=False):
            question: str
            answer: str
            work: str
            ttc_result: TTCResult

        def solve(state: State) -> dict:
            """The node you already have: one model call, one answer."""
            work = chain.invoke({"question": state["question"]})
            return {"answer": extract_answer(work), "work": work}

        graph = StateGraph(State)
        graph.add_node("solve", sampled_node(solve, n=5))
        graph.add_edge(START, "solve")
        with budget_scope(Budget(max_total_tokens=4_000)) as node_budget:
            out = graph.compile().invoke({"question": question["question"]}, {"max_concurrency": 2})
        show("sampled LangGraph node", out["ttc_result"])
        print(f"  node budget spent: {node_budget.spent.total_tokens} tokens")

        parent = StateGraph(State)
        parent.add_node("solve", create_self_consistency_graph(lambda q: chain.invoke({"question": q}), n=5))
        parent.add_edge(START, "solve")
        out = parent.compile().invoke({"question": question["question"]}, {"max_concurrency": 2})
        print(f"\nself-consistency subgraph in a parent graph: answer {out['answer']!r}")


if __name__ == "__main__":
    main()
