"""Budget forcing and step-back through the drivers that offer them (LangChain, DSPy; LangGraph puts
LangChain's in a node): scripted cases and builders. A shell builds its own output type for budget
forcing (an AIMessage, a DSPy prediction), so those cases compare everything but the output."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from tests.conformance.script import ONE_AT_A_TIME, REFUSED, Case, Runner, Script, ScriptedPredictor
from ttc_plugins.prompts import FORCING_ANSWER_USER
from ttc_plugins.strategies.steps import drive


class _ScriptedThinker(BaseChatModel):
    """One chat model for both of budget forcing's targets: the answer prompt asks for ``answer``."""

    script: Any

    @property
    def _llm_type(self) -> str:
        return "scripted-thinker"

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        target = "answer" if messages[-1].content == FORCING_ANSWER_USER else "think"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.script.reply(target)))])


def _words(text: str) -> int:
    return len(text.split())


def _forcing_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.forcing import Continuation, ForcingRules, forcing_loop

    def respond(call: Any) -> Continuation:
        return Continuation(script.reply(call.target))

    def run(question: str) -> Any:
        loop = forcing_loop(
            question, rules=ForcingRules(**options), output_of=lambda c, r: c.text, count=_words, rejoin=True
        )
        return drive(loop, respond)

    return run


def _forcing_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import budget_forcing

    strategy = budget_forcing(_ScriptedThinker(script=script), count=_words, continuation="reprompt", **options)
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _forcing_dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import BudgetForcing

    module = BudgetForcing("question -> answer", count=_words, **options)
    module.think = ScriptedPredictor(script, "think", "thinking")
    module.answer = ScriptedPredictor(script, "answer", "answer", module.answer.signature)
    return lambda question: module(question=question).ttc_result


def _step_back_drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.step_back import step_back_loop

    return lambda question: drive(step_back_loop(question, question=question), lambda c: script.reply(c.target))


def _step_back_langchain(script: Script, options: dict[str, Any]) -> Runner:
    from langchain_core.runnables import RunnableLambda

    from ttc_plugins.langchain.prompting import StepBack

    strategy = StepBack(
        principle=RunnableLambda(lambda question: script.reply("principle")),
        answer=RunnableLambda(lambda payload: script.reply("answer")),
    )
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


def _step_back_dspy(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.dspy import StepBack

    module = StepBack("question -> answer")
    module.principle = ScriptedPredictor(script, "principle", "principle", module.principle.signature)
    module.answer = ScriptedPredictor(script, "answer", "answer")
    return lambda question: module(question=question).ttc_result


_OUTPUT = frozenset({"output", "text"})
CASES = [
    Case("budget_forcing", "waits-then-answer", {"think": ["three plus four", "is seven"], "answer": ["Answer: 7"]},
         {"min_thinking_tokens": 6, "max_waits": 2}, ignore=_OUTPUT),
    Case("budget_forcing", "cut-at-the-cap", {"think": ["one two three four five six seven"], "answer": ["7"]},
         {"max_thinking_tokens": 4}, ignore=_OUTPUT),
    Case("budget_forcing", "answer-refused", {"think": ["one two three"], "answer": [REFUSED]}, ignore=_OUTPUT),
    Case("step_back", "principle-then-answer", {"principle": ["Addition combines."], "answer": ["Answer: 7"]}),
]  # fmt: skip

BUILDERS = {
    "budget_forcing": {"drive": _forcing_drive, "langchain": _forcing_langchain, "dspy": _forcing_dspy},
    "step_back": {"drive": _step_back_drive, "langchain": _step_back_langchain, "dspy": _step_back_dspy},
}
