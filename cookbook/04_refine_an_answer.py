"""Recipe 4: guarded self-refine on questions with a checkable answer.

Run:  python cookbook/04_refine_an_answer.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows: the chain drafts an answer, the same model critiques it, edits it, and a programmatic
check scores every version. An edit is accepted only if it does not score lower than the best
version so far, so a "correction" that breaks a right answer is rejected and the run returns the
best version, never a worse last one. Every version is printed with whether it was accepted, and
the run says which stop rule ended it. The spend is broken down by role.
"""

import re

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import refine
from ttc_plugins.local import local_chat_model, model_endpoint
from ttc_plugins.prompts import ANSWER_FORMAT
from ttc_plugins.verifiers import programmatic

QUESTIONS = ["What is 6 + 3?", "What is 9 - 2?", "What is 5 + 8?"]


def arithmetic_is_right(question: str, answer: str | None) -> bool:
    """Recompute 'a + b' or 'a - b' from the question and compare."""
    a, op, b = re.search(r"(\d+)\s*([+-])\s*(\d+)", question).groups()
    expected = int(a) + int(b) if op == "+" else int(a) - int(b)
    try:
        return answer is not None and float(answer) == expected
    except ValueError:
        return False


def main() -> None:
    with model_endpoint() as (base_url, model):
        llm = local_chat_model(base_url, model=model, temperature=0.7, max_tokens=128)
        chain = ChatPromptTemplate.from_messages([("user", "{question} " + ANSWER_FORMAT)]) | llm | StrOutputParser()
        # The critic and editor default to the chain's own model; the check is exact. With a pass/fail
        # score, accept="higher" keeps an edit only if it fixes the answer (ties would just churn).
        check = programmatic(arithmetic_is_right, name="arithmetic")
        solver = refine(chain, scorer=check, max_rounds=3, patience=2, accept="higher")

        budget = Budget(max_total_tokens=12_000)
        with budget_scope(budget):
            for question in QUESTIONS:
                result = solver.with_result().invoke({"question": question})
                rule = next(e.data["rule"] for e in result.events if e.kind == "stop")
                print(
                    f"\n{question}  -> returned version #{result.chosen} (answer {result.answer!r}), stop rule: {rule}"
                )
                verdicts = {e.data["index"]: e.kind for e in result.events if e.kind.startswith("edit_")}
                for version in result.candidates:
                    status = (
                        "draft" if version.index == 0 else verdicts.get(version.index, "failed").replace("edit_", "")
                    )
                    detail = version.error or f"answer {version.answer!r}, score {version.score}"
                    print(f"  #{version.index} [{status:8}] {detail}")
        print()
        print(budget.report())


if __name__ == "__main__":
    main()
