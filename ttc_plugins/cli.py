"""The ``ttc`` command.

``ttc demo`` shows the shared budget at work: an ordinary LangChain chain, unmodified, run inside
``budget_scope`` until the budget refuses the next call. Until the embedded model lands it runs on a
scripted fake model, and says so.
"""

from __future__ import annotations

import argparse
import itertools
import sys

from ttc_plugins.budget import Budget, BudgetExceeded, budget_role, budget_scope


def _fake_model_budget_tour() -> int:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    print("ttc demo -- FAKE MODEL: scripted replies with fixed usage, to show the budget mechanics only.\n")
    usage = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
    replies = itertools.cycle(
        [AIMessage("Answer: 4", usage_metadata=usage), AIMessage("Answer: 5", usage_metadata=usage)]
    )
    model = GenericFakeChatModel(messages=replies)
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | model | StrOutputParser()
    budget = Budget(max_total_tokens=400, default_max_output_tokens=64, name="demo")
    with budget_scope(budget):
        for number in itertools.count(1):
            role = "verifier" if number % 3 == 0 else "generator"
            try:
                with budget_role(role):
                    reply = chain.invoke({"question": "What is 2 + 2?"})
            except BudgetExceeded as refused:
                print(f"call {number}: refused before it was sent -> {refused}")
                break
            print(f"call {number} ({role}): {reply!r}; {budget.spent.total_tokens} tokens spent")
    print()
    print(budget.report())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ttc", description="Test-time compute strategies under one token budget.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="show the budget stopping an unmodified chain")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _fake_model_budget_tour()
    return 2


if __name__ == "__main__":
    sys.exit(main())
