import asyncio

import pytest
from langchain_core.output_parsers import StrOutputParser
from pydantic import Field

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, budget_scope
from ttc_plugins._runnables import model_of
from ttc_plugins.langchain import best_of_n, self_consistency
from ttc_plugins.langchain.prompting import analogical, chain_of_draft, chain_of_thought, question_of, step_back
from ttc_plugins.strategies.draft import (
    analogical_messages,
    chain_of_draft_messages,
    chain_of_thought_messages,
    step_back_answer_messages,
    step_back_principle_messages,
)
from ttc_plugins.verifiers import programmatic

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"
_TYPES = {"system": "system", "user": "human", "assistant": "ai"}


class RecordingModel(ScriptedChatModel):
    """A ScriptedChatModel that also records the messages of every call, as (type, content) pairs."""

    seen: list = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append([(m.type, m.content) for m in messages])
        return super()._generate(messages, stop, run_manager, **kwargs)


def sent(messages):
    """What a chat model receives for the (role, content) pairs the core builds."""
    return [(_TYPES[role], content) for role, content in messages]


@pytest.mark.parametrize("input", [QUESTION, {"question": QUESTION, "topic": "fruit"}])
def test_chain_of_thought_sends_the_zero_shot_messages_and_returns_the_models_message(input):
    llm = RecordingModel(replies=["3 + 4 = 7.\nAnswer: 7"])
    reply = chain_of_thought(llm).invoke(input)
    assert reply.content == "3 + 4 = 7.\nAnswer: 7"
    assert llm.seen == [sent(chain_of_thought_messages(QUESTION))]


def test_few_shot_chain_of_thought_and_the_chain_of_draft_default_send_worked_examples():
    llm = RecordingModel(replies=["#### 7"])
    chain_of_thought(llm, few_shot=True).invoke(QUESTION)
    chain_of_draft(llm).invoke(QUESTION)
    chain_of_draft(llm, few_shot=False).invoke(QUESTION)
    assert llm.seen == [
        sent(chain_of_thought_messages(QUESTION, few_shot=True)),
        sent(chain_of_draft_messages(QUESTION)),
        sent(chain_of_draft_messages(QUESTION, few_shot=False)),
    ]
    assert len(llm.seen[1]) == 8 and len(llm.seen[2]) == 2


def test_analogical_sends_its_single_prompt():
    llm = RecordingModel(replies=["Answer: 7"])
    analogical(llm).invoke({"question": QUESTION})
    assert llm.seen == [sent(analogical_messages(QUESTION))]


def test_the_transform_wraps_a_chain_over_messages_and_keeps_its_output_type():
    llm = RecordingModel(replies=["#### 7"])
    assert chain_of_draft(llm | StrOutputParser()).invoke(QUESTION) == "#### 7"


def test_the_wrapped_model_stays_findable_for_strategies_that_default_to_it():
    llm = RecordingModel(replies=["#### 7"])
    chain = chain_of_draft(llm)
    assert model_of(chain) is llm and chain.get_name() == "chain_of_draft"


def test_bad_inputs_and_options_fail_clearly():
    llm = RecordingModel(replies=["x"])
    with pytest.raises(TypeError, match="question string"):
        chain_of_draft(llm).invoke({"prompt": QUESTION})
    with pytest.raises(TypeError, match="question string"):
        question_of(["not", "a question"])
    with pytest.raises(ValueError, match="worked example"):
        chain_of_draft(llm, examples=[("question without a solution",)])
    with pytest.raises(TypeError, match="wraps a chat model"):
        chain_of_thought("gpt-4o")
    assert llm.seen == []


def test_self_consistency_over_chain_of_draft_votes_on_eight_drafts_under_one_budget():
    llm = RecordingModel(replies=["3 + 4 = 7.\n#### 7", "3 + 4 = 8.\n#### 8", "3 + 4 = 7.\n#### 7"], output_tokens=6)
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        result = self_consistency(chain_of_draft(llm), n=8).with_result().invoke(QUESTION, {"max_concurrency": 1})
    assert result.answer == "7"
    assert sorted(c.answer for c in result.candidates) == ["7"] * 5 + ["8"] * 3  # the replies cycle 7, 8, 7
    assert llm.seen == [sent(chain_of_draft_messages(QUESTION))] * 8
    spent = budget.spent
    assert (spent.calls, spent.input_tokens, spent.output_tokens) == (8, 80, 48)


def test_best_of_n_over_chain_of_draft_keeps_the_verified_draft():
    llm = RecordingModel(replies=["#### 8", "#### 7", "#### 9"])
    checker = programmatic(lambda question, answer: answer == "7")
    reply = best_of_n(chain_of_draft(llm), verifier=checker, n=3).invoke(QUESTION, {"max_concurrency": 1})
    assert reply.content == "#### 7"
    assert llm.seen == [sent(chain_of_draft_messages(QUESTION))] * 3


def test_step_back_makes_two_calls_charged_to_their_roles():
    llm = RecordingModel(replies=["Addition combines two amounts.", "3 + 4 = 7.\nAnswer: 7"], output_tokens=5)
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        result = step_back(llm).with_result().invoke(QUESTION)
    assert llm.seen == [
        sent(step_back_principle_messages(QUESTION)),
        sent(step_back_answer_messages(QUESTION, "Addition combines two amounts.")),
    ]
    assert (result.output.content, result.answer) == ("3 + 4 = 7.\nAnswer: 7", "7")
    assert [(e.kind, e.data) for e in result.events] == [("principle", {"principle": "Addition combines two amounts."})]
    by_role = budget.spent.by_role
    assert {role: (line.calls, line.total_tokens) for role, line in by_role.items()} == {
        "step_back": (1, 15),
        "generator": (1, 15),
    }
    assert result.spend.total_tokens == 30


def test_step_back_can_ask_another_model_for_the_principle_and_runs_async():
    principle_model = RecordingModel(replies=["Count both groups together."])
    llm = RecordingModel(replies=["Answer: 7"])
    reply = asyncio.run(step_back(llm, principle_model=principle_model).ainvoke({"question": QUESTION}))
    assert reply.content == "Answer: 7"
    assert principle_model.seen == [sent(step_back_principle_messages(QUESTION))]
    assert llm.seen == [sent(step_back_answer_messages(QUESTION, "Count both groups together."))]


def test_step_back_stops_when_the_principle_call_fails():
    llm = RecordingModel(replies=["unused"], fail_on=frozenset({0}))
    with pytest.raises(RuntimeError, match="provider error on call 0"):
        step_back(llm).invoke(QUESTION)
    assert len(llm.seen) == 1
