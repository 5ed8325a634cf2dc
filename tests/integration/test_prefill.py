"""The prefill path on the embedded model: llama.cpp's /v1/completions continues the model's own words."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import budget_forcing
from ttc_plugins.local import LOCAL_CHAT_TEMPLATE, local_completion_model

pytestmark = pytest.mark.integration

OPEN_TURN = "<|im_start|>assistant\n"


class PromptRecorder(BaseCallbackHandler):
    def __init__(self):
        self.prompts = []

    def on_llm_start(self, serialized, prompts, **kwargs):
        self.prompts.extend(prompts)


def test_a_rendered_prompt_with_a_partial_reply_is_continued_not_restarted(local_base_url):
    llm = local_completion_model(local_base_url, temperature=0, max_tokens=16)
    prompt = LOCAL_CHAT_TEMPLATE.render([("user", "Count from 1 to 10, separated by commas.")], "1, 2, 3, 4,")
    continuation = llm.invoke(prompt, stop=list(LOCAL_CHAT_TEMPLATE.stop))
    assert continuation.lstrip().startswith("5")  # a restarted reply would begin again at "1"


def test_budget_forcing_continues_after_wait_and_after_final_answer_on_the_embedded_model(local_base_url):
    recorder = PromptRecorder()
    # Each call stops at the end of its first sentence or line, so the model always stops short of the
    # minimum and gets its Wait, however long it would otherwise ramble (or loop, as it does greedily).
    llm = local_completion_model(local_base_url, temperature=0).bind(stop=[".", "\n"])
    solver = budget_forcing(
        llm,
        min_thinking_tokens=200,
        max_thinking_tokens=400,
        max_waits=1,
        max_answer_tokens=24,
        chat_template=LOCAL_CHAT_TEMPLATE,
    )
    budget = Budget(max_total_tokens=4_000)
    with budget_scope(budget):
        result = solver.with_result().invoke("What is 2 + 3?", {"callbacks": [recorder]})
    first, extended, forced = recorder.prompts
    reply = first.split(OPEN_TURN)[-1]
    assert reply == ""  # the first call opens the assistant's turn
    # each later call holds the model's own reply so far inside the still-open assistant turn
    assert extended.endswith(" Wait") and "<|im_end|>" not in extended.split(OPEN_TURN)[-1]
    assert forced.endswith("\nFinal Answer:") and forced.split(OPEN_TURN)[-1].startswith(extended.split(OPEN_TURN)[-1])
    metadata = result.output.response_metadata
    assert (metadata["waits"], solver.continuation) == (1, "completions")
    assert result.output.content.startswith(forced.split(OPEN_TURN)[-1])
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"thinking": 2, "answer": 1}
