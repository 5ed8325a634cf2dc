"""Recipe 2: best-of-N with an LLM judge, and with a programmatic check.

Run:  python cookbook/02_best_of_n_with_a_judge.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows:
- `best_of_n(chain, verifier=llm_judge(judge_model), n=4)`: each sample is graded by a judge model
  (its calls are charged to the budget as role "verifier"); the best-graded sample wins;
- `programmatic(check)`: an exact check as the verifier, with `threshold=` stopping at the first pass;
- `weighted=True`: the answer whose samples' scores sum highest.
A 135M model judging itself mostly cannot tell right from wrong (the project's pilot measured no
gain), so use a stronger judge model in practice, or a programmatic check where one exists.
"""

import re

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import best_of_n, llm_judge
from ttc_plugins.local import local_chat_model, local_judge_model, model_endpoint
from ttc_plugins.prompts import ANSWER_FORMAT
from ttc_plugins.verifiers import programmatic

QUESTION = "What is 5 + 8?"


def sum_is_right(question: str, answer: str | None) -> bool:
    """The exact check: recompute 'a + b' from the question."""
    a, b = map(int, re.findall(r"\d+", question)[:2])
    return answer is not None and float(answer) == a + b


def show(title: str, result) -> None:
    spend = result.spend.by_role
    roles = ", ".join(f"{role} {line.calls} calls/{line.total_tokens} tokens" for role, line in spend.items())
    print(f"\n{title}: chose #{result.chosen} answer {result.answer!r} (stop: {result.stop_reason}; {roles})")
    for c in result.candidates:
        verdict = f"score {c.score:.1f} - {c.verdict.critique[:60]!r}" if c.verdict else c.error
        print(f"  #{c.index} answer {c.answer!r:8} {verdict}")


def main() -> None:
    with model_endpoint() as (base_url, model):
        sampler = local_chat_model(base_url, model=model, temperature=0.7, max_tokens=128)
        # On llama.cpp's server a JSON grammar makes even the tiny judge answer with a parseable score.
        judge_model = local_judge_model(base_url, model=model)
        chain = (
            ChatPromptTemplate.from_messages([("user", "{question} " + ANSWER_FORMAT)]) | sampler | StrOutputParser()
        )

        with budget_scope(Budget(max_total_tokens=8_000)):
            judged = best_of_n(chain, verifier=llm_judge(judge_model, structured=False), n=4)
            show("LLM judge", judged.with_result().invoke({"question": QUESTION}, {"max_concurrency": 2}))

            checked = best_of_n(chain, verifier=programmatic(sum_is_right), n=8, threshold=1.0, wave_size=2)
            show("programmatic check, stop at first pass", checked.with_result().invoke({"question": QUESTION}))

            weighted = best_of_n(chain, verifier=programmatic(sum_is_right), n=6, weighted=True)
            show("weighted by score", weighted.with_result().invoke({"question": QUESTION}, {"max_concurrency": 2}))


if __name__ == "__main__":
    main()
