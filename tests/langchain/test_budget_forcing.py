import asyncio

import pytest
from pydantic import Field

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, BudgetExceeded, budget_scope
from ttc_plugins.langchain.budget_forcing import budget_forcing, supports_prefill
from ttc_plugins.prompts import FORCING_ANSWER_USER, FORCING_CONTINUE_USER
from ttc_plugins.tokens import count_tokens

QUESTION = "What is 17 * 3?"
LONG = " ".join(f"Step {i}: 17 * 3 is 17 + 17 + 17, and I add them again to check." for i in range(30))


class RecordingModel(ScriptedChatModel):
    """Records each call's messages (type, content) and options; can report a finish reason per call."""

    seen: list = Field(default_factory=list)
    options: list = Field(default_factory=list)
    finish_reasons: list = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append([(m.type, m.content) for m in messages])
        self.options.append(kwargs)
        number = len(self.seen) - 1
        result = super()._generate(messages, stop, run_manager, **kwargs)
        if number < len(self.finish_reasons) and self.finish_reasons[number]:
            result.generations[0].message.response_metadata["finish_reason"] = self.finish_reasons[number]
        return result


class ChatAnthropic(RecordingModel):
    """Named like langchain-anthropic's model, whose API continues a trailing assistant message."""


def test_reprompt_appends_wait_max_waits_times_and_charges_every_continuation():
    llm = RecordingModel(replies=["17 * 3 = 51.", "Let me check.", "Again: 51.", "51"], output_tokens=7)
    solver = budget_forcing(llm, min_thinking_tokens=500, max_thinking_tokens=1000, max_waits=2, max_answer_tokens=20)
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        result = solver.with_result().invoke(QUESTION)
    thinking = "17 * 3 = 51. Wait Let me check. Wait Again: 51."
    assert llm.seen == [
        [("human", QUESTION)],
        [("human", QUESTION), ("ai", "17 * 3 = 51. Wait"), ("human", FORCING_CONTINUE_USER)],
        [("human", QUESTION), ("ai", "17 * 3 = 51. Wait Let me check. Wait"), ("human", FORCING_CONTINUE_USER)],
        [("human", QUESTION), ("ai", thinking + "\nFinal Answer:"), ("human", FORCING_ANSWER_USER)],
    ]
    assert result.output.content == thinking + "\nFinal Answer: 51"
    assert (result.answer, result.stop_reason) == ("51", "done")
    metadata = result.output.response_metadata
    assert metadata == {
        "thinking_tokens": count_tokens(thinking),
        "answer_tokens": count_tokens("51"),
        "waits": 2,
        "thinking_end": "waits_used",
    }
    # each thinking call is capped at what is left of the thinking budget, the answer at its own cap
    after_first = count_tokens("17 * 3 = 51. Wait")
    after_second = count_tokens("17 * 3 = 51. Wait Let me check. Wait")
    assert [o.get("max_tokens") for o in llm.options] == [1000, 1000 - after_first, 1000 - after_second, 20]
    by_role = {role: (line.calls, line.total_tokens) for role, line in budget.spent.by_role.items()}
    assert by_role == {"thinking": (3, 51), "answer": (1, 17)}
    assert result.spend.total_tokens == budget.spent.total_tokens == 68


def test_thinking_is_cut_at_exactly_the_cap_and_the_answer_is_forced():
    llm = RecordingModel(replies=[LONG, "51"])
    result = budget_forcing(llm, max_thinking_tokens=64).with_result().invoke({"question": QUESTION})
    thinking = result.output.content.split("\nFinal Answer:")[0]
    assert LONG.startswith(thinking) and len(thinking) < len(LONG)
    assert count_tokens(thinking) == result.output.response_metadata["thinking_tokens"] == 64
    assert result.output.response_metadata["thinking_end"] == "cap"
    assert llm.seen[1] == [("human", QUESTION), ("ai", thinking + "\nFinal Answer:"), ("human", FORCING_ANSWER_USER)]
    assert len(llm.seen) == 2 and result.answer == "51"


def test_prefill_continues_the_assistant_message_without_a_follow_up_prompt():
    llm = RecordingModel(replies=["17 * 3 = 51.", " Checking: 51.", " 51"])
    solver = budget_forcing(llm, min_thinking_tokens=200, max_waits=1, continuation="prefill")
    reply = solver.invoke(QUESTION)
    assert llm.seen == [
        [("human", QUESTION)],
        [("human", QUESTION), ("ai", "17 * 3 = 51. Wait")],
        [("human", QUESTION), ("ai", "17 * 3 = 51. Wait Checking: 51.\nFinal Answer:")],
    ]
    assert reply.content == "17 * 3 = 51. Wait Checking: 51.\nFinal Answer: 51"


def test_auto_prefills_only_where_the_api_is_known_to_continue_the_message():
    assert supports_prefill(ChatAnthropic(replies=["x"]))
    assert supports_prefill(ChatAnthropic(replies=["x"]).bind(temperature=0))
    assert not supports_prefill(RecordingModel(replies=["x"]))
    assert budget_forcing(ChatAnthropic(replies=["x"])).continuation == "prefill"
    assert budget_forcing(RecordingModel(replies=["x"])).continuation == "reprompt"
    assert budget_forcing(ChatAnthropic(replies=["x"]), continuation="reprompt").continuation == "reprompt"


def test_a_call_that_stops_at_its_output_cap_ends_thinking_without_a_wait():
    llm = RecordingModel(replies=["17 * 3", "51"], finish_reasons=["length"])
    reply = budget_forcing(llm, min_thinking_tokens=100, max_thinking_tokens=200, max_waits=3).invoke(QUESTION)
    assert reply.response_metadata["thinking_end"] == "length"
    assert reply.response_metadata["waits"] == 0 and len(llm.seen) == 2


def test_a_budget_refusal_mid_thinking_returns_the_thinking_so_far():
    llm = RecordingModel(replies=["17 * 3 = 51.", "Checking."])
    solver = budget_forcing(llm, min_thinking_tokens=500, max_waits=5)
    with budget_scope(Budget(max_calls=2)):
        result = solver.with_result().invoke(QUESTION)
    assert result.stop_reason == "budget" and result.answer is None
    assert result.output.content == "17 * 3 = 51. Wait Checking. Wait"
    assert len(llm.seen) == 2


def test_a_refused_first_call_raises():
    llm = RecordingModel(replies=["x"])
    with budget_scope(Budget(max_total_tokens=40)), pytest.raises(BudgetExceeded, match="max_total_tokens"):
        budget_forcing(llm, max_thinking_tokens=50).invoke(QUESTION)  # worst case: the prompt + 50 tokens
    assert llm.seen == []


def test_the_cap_also_goes_in_the_request_body_for_llama_cpp():
    from ttc_plugins.langchain._continuation import _capped
    from ttc_plugins.local import local_chat_model

    llm = local_chat_model("http://127.0.0.1:9/v1")  # not called: only the bound options are checked
    bound = _capped(llm, 17)
    assert bound.kwargs == {"max_tokens": 17, "extra_body": {"repeat_penalty": 1.0, "max_tokens": 17}}
    assert llm.extra_body == {"repeat_penalty": 1.0, "max_tokens": 256}


def test_async_runs_the_same_steps():
    llm = RecordingModel(replies=["a", "b", "51"])
    solver = budget_forcing(llm, min_thinking_tokens=100, max_waits=1, continuation="prefill")
    reply = asyncio.run(solver.ainvoke(QUESTION))
    assert reply.content == "a Waitb\nFinal Answer: 51"
    assert len(llm.seen) == 3


@pytest.mark.parametrize(
    ("llm", "options", "error", "message"),
    [
        (RecordingModel(replies=["x"]), {"continuation": "raw"}, ValueError, "continuation must be"),
        (RecordingModel(replies=["x"]), {"min_thinking_tokens": 10}, ValueError, "needs max_waits"),
        (RecordingModel(replies=["x"]), {"max_thinking_tokens": -1}, ValueError, "max_thinking_tokens must be"),
        ("gpt-4o", {}, TypeError, "wraps a chat or text-completions model"),
    ],
)
def test_bad_options_fail_when_the_strategy_is_built(llm, options, error, message):
    with pytest.raises(error, match=message):
        budget_forcing(llm, **options)
