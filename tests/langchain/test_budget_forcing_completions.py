"""Budget forcing's true-continuation path: a text-completions model and the model's chat template."""

import asyncio

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from tests.langchain.fakes import ScriptedChatModel, ScriptedCompletionModel
from ttc_plugins import Budget, budget_scope
from ttc_plugins.chat_templates import CHATML
from ttc_plugins.langchain.budget_forcing import budget_forcing
from ttc_plugins.tokens import count_tokens

QUESTION = "What is 17 * 3?"
OPEN = "<|im_start|>user\nWhat is 17 * 3?<|im_end|>\n<|im_start|>assistant\n"  # CHATML, assistant turn open
LONG = " ".join(f"Step {i}: 17 * 3 is 17 + 17 + 17, and I add them again to check." for i in range(30))


def test_the_model_continues_its_own_text_in_the_rendered_prompt_and_every_call_is_charged():
    llm = ScriptedCompletionModel(replies=["17 * 3 = 51.", " Let me check: 51.", " 51"])
    solver = budget_forcing(
        llm, min_thinking_tokens=100, max_thinking_tokens=500, max_waits=1, max_answer_tokens=16, chat_template=CHATML
    )
    budget = Budget(max_total_tokens=10_000)
    with budget_scope(budget):
        result = solver.with_result().invoke(QUESTION)
    thinking = "17 * 3 = 51. Wait Let me check: 51."
    # no follow-up user turn and no end-of-turn after the partial reply: the prompt ends in the model's own words
    assert llm.prompts == [OPEN, OPEN + "17 * 3 = 51. Wait", OPEN + thinking + "\nFinal Answer:"]
    assert result.output.content == thinking + "\nFinal Answer: 51"
    assert (result.answer, solver.continuation) == ("51", "completions")
    assert result.output.response_metadata["waits"] == 1
    assert [o["max_tokens"] for o in llm.options] == [500, 500 - count_tokens("17 * 3 = 51. Wait"), 16]
    assert all(o["stop"] == ["<|im_end|>", "<|im_start|>"] for o in llm.options)
    by_role = {role: (line.calls, line.total_tokens) for role, line in budget.spent.by_role.items()}
    assert by_role == {"thinking": (2, 52), "answer": (1, 26)}
    assert result.spend.total_tokens == 78


def test_thinking_is_cut_at_exactly_the_cap():
    llm = ScriptedCompletionModel(replies=[LONG, " 51"])
    result = budget_forcing(llm, max_thinking_tokens=64, chat_template=CHATML).with_result().invoke(QUESTION)
    thinking = result.output.content.split("\nFinal Answer:")[0]
    assert LONG.startswith(thinking) and count_tokens(thinking) == 64
    assert llm.prompts[1] == OPEN + thinking + "\nFinal Answer:"
    assert result.output.response_metadata["thinking_end"] == "cap"


def test_a_length_finish_ends_thinking_without_a_wait():
    llm = ScriptedCompletionModel(replies=["17 * 3 is", " 51"], finish_reasons=["length", "stop"])
    solver = budget_forcing(llm, min_thinking_tokens=100, max_waits=3, chat_template=CHATML)
    result = solver.with_result().invoke(QUESTION)
    assert len(llm.prompts) == 2 and "Wait" not in llm.prompts[1]
    assert result.output.response_metadata["thinking_end"] == "length"


def test_bound_options_reach_the_call_and_bound_stops_are_kept():
    llm = ScriptedCompletionModel(replies=["51.", " 51"]).bind(temperature=0.0, stop=["\n\n"])
    budget_forcing(llm, max_thinking_tokens=50, chat_template=CHATML).invoke(QUESTION)
    options = llm.bound.options
    assert options[0]["temperature"] == 0.0
    assert options[0]["stop"] == ["\n\n", "<|im_end|>", "<|im_start|>"]


def test_callbacks_and_tags_reach_the_completion_runs():
    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.starts = []

        def on_llm_start(self, serialized, prompts, *, tags=None, **kwargs):
            self.starts.append((prompts[0][-12:], tags))

    recorder = Recorder()
    llm = ScriptedCompletionModel(replies=["51.", " 51"])
    budget_forcing(llm, chat_template=CHATML).invoke(QUESTION, {"callbacks": [recorder], "tags": ["mine"]})
    assert len(recorder.starts) == 2
    assert recorder.starts[1][0] == "inal Answer:" and all("mine" in tags for _, tags in recorder.starts)


def test_async_sends_the_same_prompts():
    llm = ScriptedCompletionModel(replies=["17 * 3 = 51.", " Checking.", " 51"])
    solver = budget_forcing(llm, min_thinking_tokens=100, max_waits=1, chat_template=CHATML)
    output = asyncio.run(solver.ainvoke(QUESTION))
    assert llm.prompts[1] == OPEN + "17 * 3 = 51. Wait"
    assert output.content.endswith("Checking.\nFinal Answer: 51")


@pytest.mark.parametrize(
    ("llm", "options", "message"),
    [
        (ScriptedCompletionModel(replies=["x"]), {}, "needs chat_template="),
        (
            ScriptedCompletionModel(replies=["x"]),
            {"continuation": "reprompt", "chat_template": CHATML},
            "not 'reprompt'",
        ),
        (ScriptedChatModel(replies=["x"]), {"continuation": "completions"}, "needs a text-completions model"),
        (ScriptedChatModel(replies=["x"]), {"chat_template": CHATML}, "chat_template= is for text-completions"),
    ],
)
def test_a_continuation_that_does_not_fit_the_model_fails_when_built(llm, options, message):
    with pytest.raises(ValueError, match=message):
        budget_forcing(llm, **options)


def test_building_the_class_directly_checks_the_continuation_too():
    from ttc_plugins.langchain.budget_forcing import BudgetForcing
    from ttc_plugins.strategies.forcing import ForcingRules

    with pytest.raises(ValueError, match="needs chat_template="):
        BudgetForcing(llm=ScriptedCompletionModel(replies=["x"]), rules=ForcingRules(), continuation="completions")
