"""Recipe 0: put an existing LangChain chain under a token budget without changing it.

Run:  python cookbook/00_budget_any_chain.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows: every call inside `budget_scope` is reserved before it is sent and charged the
server's reported usage after; the call that would cross the limit is refused before it is sent;
`budget_role` splits the spend by purpose; `budget.report()` sums it up.
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ttc_plugins import Budget, BudgetExceeded, budget_role, budget_scope
from ttc_plugins.local import local_chat_model, model_endpoint

QUESTIONS = ["What is 2 + 3?", "Name a primary colour.", "What is the capital of France?", "What is 10 - 4?"]


def main() -> None:
    with model_endpoint() as (base_url, model):
        llm = local_chat_model(base_url, model=model, max_tokens=48, temperature=0.0)
        # The chain you already have: nothing in it knows about budgets.
        answer = (
            ChatPromptTemplate.from_messages([("user", "{question} Answer in one short sentence.")])
            | llm
            | StrOutputParser()
        )
        check = (
            ChatPromptTemplate.from_messages([("user", "Is this a sensible answer? {answer} Reply yes or no.")])
            | llm
            | StrOutputParser()
        )

        budget = Budget(max_total_tokens=600, name="recipe-1")
        with budget_scope(budget):
            for question in QUESTIONS * 3:
                try:
                    reply = answer.invoke({"question": question})
                    with budget_role("verifier"):
                        verdict = check.invoke({"answer": reply})
                except BudgetExceeded as refused:
                    print(f"\nstopped before sending the next call:\n  {refused}\n")
                    break
                print(
                    f"{question:35} -> {reply[:60]!r}  [check: {verdict[:20]!r}]  ({budget.spent.total_tokens} tokens)"
                )
        print(budget.report())


if __name__ == "__main__":
    main()
