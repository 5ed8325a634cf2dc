"""Recipe 7: chain-of-draft (CoD) against chain-of-thought (CoT): the same answers in fewer tokens?

Run:  python cookbook/07_chain_of_draft.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server;
TTC_COOKBOOK_ITEMS=3 asks fewer questions for a quick run)

What it shows:
- `chain_of_thought(llm)` and `chain_of_draft(llm)` are modifiers: they wrap a chat model and return a
  Runnable that takes a question. CoD asks for a five-word draft per step and the answer after `####`.
- Each method runs on the same one-digit arithmetic questions in its own `Budget`, so its spend is
  measured on its own: accuracy, and input / output tokens per question, side by side. "marker kept"
  counts the replies that ended with the style's answer marker (`Answer:` for CoT, `####` for CoD).
- The saving multiplies inside other strategies: `self_consistency(chain_of_draft(llm), n=4)` samples
  four short drafts where `self_consistency(chain_of_thought(llm), n=4)` samples four long chains.

Read the numbers honestly: a handful of questions measures tokens, not accuracy (one question more or
less right is noise). The CoD paper found zero-shot CoD degrades on small models, which is why
`chain_of_draft` is few-shot by default (it shows three worked drafts); those examples lengthen the
prompt, so CoD's saving is in output tokens, which are the slow and costly ones. On this 135M model
and one-step sums the bench measured the opposite (README, "Benchmark"): few-shot CoD copied the
worked drafts' two-step shape and answers (0.33, no better than the plain prompt) while zero-shot
CoD, `chain_of_draft(llm, few_shot=False)`, scored 0.70 at the fewest tokens. Measure both forms on
your own task.
"""

import os

from ttc_plugins import Budget, budget_scope
from ttc_plugins.answers import extract_answer, same_answer
from ttc_plugins.langchain import chain_of_draft, chain_of_thought, self_consistency
from ttc_plugins.local import local_chat_model, model_endpoint

ITEMS = int(os.environ.get("TTC_COOKBOOK_ITEMS", "6"))
QUESTIONS = [
    ("What is 6 + 3?", "9"),
    ("What is 9 - 2?", "7"),
    ("What is 4 + 5?", "9"),
    ("What is 8 - 5?", "3"),
    ("What is 2 + 7?", "9"),
    ("What is 7 - 4?", "3"),
][:ITEMS]
SAMPLES = 4


def text_of(output) -> str:
    return output if isinstance(output, str) else str(getattr(output, "content", output))


def run(label: str, solve, marker: str | None = None) -> dict:
    """Ask every question with ``solve(question) -> (answer, text)`` in a fresh budget; return the row.

    ``marker`` is the final-answer marker the style asks for; the row counts the replies that kept it.
    """
    right = kept = 0
    budget = Budget(name=label)
    with budget_scope(budget):
        for question, expected in QUESTIONS:
            answer, text = solve(question)
            ok = same_answer(answer, expected)
            right += ok
            kept += marker is not None and marker in text
            print(f"  {label:20} {question:16} -> {answer!r:8} {'right' if ok else 'wrong'}")
    spend = budget.spent
    return {
        "method": label,
        "right": right,
        "marker": f"{kept}/{len(QUESTIONS)} {marker}" if marker else "-",
        "calls": spend.calls,
        "input": spend.input_tokens / len(QUESTIONS),
        "output": spend.output_tokens / len(QUESTIONS),
        "total": spend.total_tokens / len(QUESTIONS),
    }


def table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = f"{'method':20} {'right':>7} {'calls':>6} {'input tok/q':>12} {'output tok/q':>13} {'total tok/q':>12}"
    print(f"{header}  marker kept")
    for row in rows:
        print(
            f"{row['method']:20} {row['right']:>3}/{len(QUESTIONS):<3} {row['calls']:>6} {row['input']:>12.0f} "
            f"{row['output']:>13.0f} {row['total']:>12.0f}  {row['marker']}"
        )


def main() -> None:
    with model_endpoint() as (base_url, model):
        # Greedy decoding for the one-shot comparison (each method's own best guess), sampling for the votes.
        greedy = local_chat_model(base_url, model=model, max_tokens=128, temperature=0.0)
        sampler = local_chat_model(base_url, model=model, max_tokens=128, temperature=0.7)

        print(f"One answer per question ({len(QUESTIONS)} questions, greedy decoding):")
        single = {
            "CoT": (chain_of_thought(greedy), "Answer:"),
            "CoD zero-shot": (chain_of_draft(greedy, few_shot=False), "####"),
            "CoD few-shot": (chain_of_draft(greedy), "####"),
        }
        rows = []
        for label, (method, marker) in single.items():

            def solve(question: str, method=method) -> tuple[str | None, str]:
                text = text_of(method.invoke(question))
                return extract_answer(text), text

            rows.append(run(label, solve, marker))
        table("CoT vs CoD, one call per question", rows)

        print(f"\nSelf-consistency, {SAMPLES} samples per question (temperature 0.7):")
        voters = {
            f"SC({SAMPLES}) x CoT": self_consistency(chain_of_thought(sampler), n=SAMPLES),
            f"SC({SAMPLES}) x CoD": self_consistency(chain_of_draft(sampler), n=SAMPLES),
        }
        voted = [
            run(label, lambda q, voter=voter: (voter.with_result().invoke(q, {"max_concurrency": 2}).answer, ""))
            for label, voter in voters.items()
        ]
        table("CoT vs CoD inside self-consistency", voted)

        cot, cod = voted
        print(
            f"\nOutput tokens per question inside self-consistency: CoD {cod['output']:.0f}, CoT {cot['output']:.0f} "
            f"(CoD/CoT = {cod['output'] / max(cot['output'], 1):.2f})."
        )
        print(
            f"Input tokens per question: CoD {cod['input']:.0f}, CoT {cot['input']:.0f}: "
            "few-shot CoD pays for its worked drafts in the prompt."
        )
        print(
            f"Caveat: {len(QUESTIONS)} questions measure tokens, not accuracy; a right/wrong difference here is noise. "
            "The CoD paper says zero-shot CoD degrades on small models, but on this 135M model the bench measured "
            "the opposite (README, 'Benchmark'): measure both forms on your task."
        )


if __name__ == "__main__":
    main()
