"""Recipe 6: a LangGraph refine loop that pauses for a human to review the feedback before each edit.

Run:  python cookbook/06_human_in_the_loop_refine.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows: `create_refine_graph(..., human_feedback=True)` drafts an answer, scores it with an
exact check, has the critic write feedback, and then pauses with
`interrupt({"question", "draft", "feedback", "round"})` before each edit. The human answers with
`Command(resume=...)`: `True` approves the critic's feedback, a string replaces it, `{"stop": True}`
ends the run with the best version so far. A checkpointer keeps the paused run between the calls
(InMemorySaver here; a SqliteSaver or Postgres saver lets a run wait for days, across restarts).

So that the recipe runs unattended, the human is scripted: approve the first feedback, replace the
second with a specific one, stop at the third. Every pause is printed as the human would see it,
then every version with whether it was accepted.
"""

from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from ttc_plugins import Budget
from ttc_plugins.langgraph import TTCContext, create_refine_graph
from ttc_plugins.local import local_chat_model, model_endpoint
from ttc_plugins.prompts import ANSWER_FORMAT
from ttc_plugins.verifiers import programmatic

QUESTION = "What is 7 + 5?"

# What the scripted human answers at each round's pause.
HUMAN = {
    1: True,
    2: "7 + 5 is 12: count on from 7 by five (8, 9, 10, 11, 12). End with the line 'Answer: 12'.",
    3: {"stop": True},
}


def is_twelve(question: str, answer: str | None) -> bool:
    return answer is not None and answer.strip().rstrip(".") == "12"


def shorten(text: str, width: int = 110) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def show_pause(request: dict[str, Any], answer: Any) -> None:
    print(f"\n-- pause before the edit of round {request['round']}")
    print(f"   draft:    {shorten(request['draft'])}")
    print(f"   feedback: {shorten(request['feedback'])}")
    print(f"   human:    {answer!r}")


def main() -> None:
    with model_endpoint() as (base_url, model):
        llm = local_chat_model(base_url, model=model, temperature=0.7, max_tokens=128)
        chain = ChatPromptTemplate.from_messages([("user", "{question} " + ANSWER_FORMAT)]) | llm | StrOutputParser()
        graph = create_refine_graph(
            chain,  # the critic and the editor default to the chain's own model
            scorer=programmatic(is_twelve, name="is 12"),
            max_rounds=3,
            patience=None,  # only the human, the critic or the round limit ends this run
            accept="higher",  # with a pass/fail check, keep an edit only if it fixes the answer
            human_feedback=True,
            checkpointer=InMemorySaver(),
        )
        thread = {"configurable": {"thread_id": "review-1"}}
        budget = Budget(max_total_tokens=8_000)
        context = TTCContext(budget=budget)

        out = graph.invoke({"question": QUESTION}, thread, context=context)
        while "__interrupt__" in out:
            request = out["__interrupt__"][0].value
            answer = HUMAN.get(request["round"], {"stop": True})
            show_pause(request, answer)
            out = graph.invoke(Command(resume=answer), thread, context=context)

        result = out["result"]
        rule = next(e.data["rule"] for e in result.events if e.kind == "stop")
        if any(e.kind == "human_stop" for e in result.events):
            rule = "the human stopped it"  # recorded as the critic's stop rule: the human plays the critic
        print(f"\n{QUESTION} -> version #{result.chosen} (answer {result.answer!r}); stopped: {rule}")
        verdicts = {e.data["index"]: e.kind.removeprefix("edit_") for e in result.events if e.kind.startswith("edit_")}
        for version in result.candidates:
            status = "draft" if version.index == 0 else verdicts.get(version.index, "?")
            detail = version.error or f"score {version.score}: {shorten(version.output, 80)}"
            print(f"  #{version.index} [{status:8}] {detail}")
        print()
        print(budget.report())


if __name__ == "__main__":
    main()
