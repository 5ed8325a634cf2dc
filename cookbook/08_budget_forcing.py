"""Recipe 8: budget forcing (s1): cap the thinking tokens, or make the model think longer with "Wait".

Run:  python cookbook/08_budget_forcing.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server;
TTC_COOKBOOK_ITEMS=3 asks one question instead of two)

What it shows: `budget_forcing(llm, min_thinking_tokens=..., max_thinking_tokens=..., max_waits=...)`
wraps a chat model or a text-completions model with its chat template. Thinking is cut at exactly
`max_thinking_tokens` and "Final Answer:" is appended to force the answer; a model that stops before
`min_thinking_tokens` gets "Wait" appended and goes on, at most `max_waits` times (a minimum with no
Waits to enforce it is refused when the wrapper is built).
"min 128-256, 2 w" is a minimum of 128 and a cap of 256 thinking tokens with up to 2 Waits.
For each setting the recipe prints what the returned message's `response_metadata` holds: thinking
tokens, answer tokens, the Waits used and why thinking ended (`cap`: cut at the cap; `length`: the
call's own output cap; `model_stopped`: the model stopped with the minimum met; `waits_used`: it
stopped short but every Wait was spent), then the answer and the run's budget spend by role
("thinking" for every thinking call, "answer" for the forced answer). Each setting runs in its own Budget.
The limits are measured with the library's offline counter (tiktoken), the spend with the server's
own usage numbers, so the two differ by a few tokens.

How the thinking continues: s1 appends "Wait" to a raw prompt and lets the model go on. Chat APIs
have no raw prompt, and llama.cpp's chat endpoint closes a trailing assistant message and starts a new
reply. Its text-completions endpoint (/v1/completions) has one: on the embedded model the recipe uses
`local_completion_model` with `LOCAL_CHAT_TEMPLATE`, so the conversation is rendered as the model's own
ChatML prompt with the assistant's turn left open, and the model continues its own words after "Wait"
and after "Final Answer:" (continuation "completions"). Against another model (TTC_MODEL) it
wraps the chat model instead, which re-prompts: the thinking so far is sent as the assistant's message,
followed by a user message asking the model to continue it (Anthropic's API, or vLLM with
`continue_final_message`, continue it directly with "prefill"). The last row of each question
re-prompts the embedded model too, for comparison. A 135M model reasons poorly either way, so read
the answers as a demonstration of the controls, not of better reasoning; the token counts are the point.
"""

import os

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import budget_forcing
from ttc_plugins.local import (
    DEFAULT_MODEL,
    LOCAL_CHAT_TEMPLATE,
    local_chat_model,
    local_completion_model,
    model_endpoint,
)

ITEMS = int(os.environ.get("TTC_COOKBOOK_ITEMS", "6"))
QUESTIONS = ["What is 9 - 2?", "What is 6 + 3?"][: max(1, ITEMS // 3)]  # 2 by default, 1 for a quick run
SYSTEM = "Think step by step before you answer."

# (label, min_thinking_tokens, max_thinking_tokens, max_waits)
SETTINGS = [
    ("cap 32", 0, 32, 0),
    ("cap 64", 0, 64, 0),
    ("cap 128", 0, 128, 0),
    ("min 64, 2 waits", 64, None, 2),
    ("min 128-256, 2 w", 128, 256, 2),
]


def spend_by_role(budget: Budget) -> str:
    lines = budget.spent.by_role
    return ", ".join(
        f"{role} {line.calls} calls/{line.output_tokens} out/{line.total_tokens} total"
        for role, line in sorted(lines.items())
    )


def main() -> None:
    with model_endpoint() as (base_url, model):
        chat = local_chat_model(base_url, model=model, max_tokens=160, temperature=0.7)
        # The embedded model's template is known (started here, or served elsewhere under its name), so
        # its completions endpoint can continue its words; another model's chat endpoint re-prompts.
        embedded = model == DEFAULT_MODEL
        llm, template = (
            (local_completion_model(base_url, model=model, max_tokens=160, temperature=0.7), LOCAL_CHAT_TEMPLATE)
            if embedded
            else (chat, None)
        )
        try:
            budget_forcing(llm, min_thinking_tokens=64, max_waits=0, chat_template=template)
        except ValueError as error:
            print(f"min 64, 0 waits: refused when built: {error}")
        settings = [(label, low, high, waits, llm, template) for label, low, high, waits in SETTINGS]
        if embedded:
            settings.append(("min 64, re-prompt", 64, None, 2, chat, None))
        print(f"continuation: {budget_forcing(llm, chat_template=template).continuation}")

        for question in QUESTIONS:
            print(f"\nQuestion: {question}")
            header = f"{'setting':16} {'thinking':>8} {'answer':>6} {'waits':>5}  {'thinking ended':14}"
            print(f"  {header}  answer")
            transcript, most_waits = "", -1
            for label, low, high, waits, model_for_row, row_template in settings:
                solver = budget_forcing(
                    model_for_row,
                    min_thinking_tokens=low,
                    max_thinking_tokens=high,
                    max_waits=waits,
                    max_answer_tokens=24,
                    chat_template=row_template,
                )
                budget = Budget(name=label)
                with budget_scope(budget):
                    result = solver.with_result().invoke([("system", SYSTEM), ("user", question)])
                meta = result.output.response_metadata
                answer = (result.answer or "").replace("\n", " ")[:48]
                print(
                    f"  {label:16} {meta['thinking_tokens']:>8} {meta['answer_tokens']:>6} {meta['waits']:>5}  "
                    f"{meta['thinking_end']!s:14}  {answer!r}"
                )
                print(f"  {'':16} spend by role: {spend_by_role(budget)}; stop {result.stop_reason!r}")
                if meta["waits"] > most_waits:
                    transcript, most_waits = result.output.content, meta["waits"]
            print(f"  transcript of a run with the most Waits ({most_waits}): thinking, then the forced answer")
            for line in transcript.strip().splitlines()[-12:]:
                print(f"    | {line[:110]}")


if __name__ == "__main__":
    main()
