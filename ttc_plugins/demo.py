"""The main job behind ``make demo``: plain answers against self-consistency on a real model.

Each question is answered once, greedily (the plain answer), and then by self-consistency over
``samples`` answers drawn at temperature 0.7, all under one shared :class:`~ttc_plugins.Budget`. For
each question it prints the candidates, their extracted answers and votes, the chosen answer and
whether it is right; at the end, the budget report. A last step shows the budget stopping a run
early. On the embedded 135M model the plain answer is often wrong: that is the point of the tour,
not a measurement (``make bench`` measures, with confidence intervals).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ttc_plugins.answers import extract_answer, same_answer
from ttc_plugins.budget import Budget, budget_role, budget_scope
from ttc_plugins.local import local_chat_model, model_endpoint

__all__ = ["DEMO_QUESTIONS", "run_demo"]

# One-digit sums and differences: the task on which voting measurably helps the 135M model
# (greedy 0.40, majority of 8 0.65 over 60 items in the project's pilot).
DEMO_QUESTIONS: list[tuple[str, str]] = [
    ("What is 6 + 3?", "9"),
    ("What is 8 - 5?", "3"),
    ("What is 4 + 7?", "11"),
    ("What is 9 - 2?", "7"),
    ("What is 5 + 8?", "13"),
]
INSTRUCTION = "Think step by step, then give the final answer on the last line in the form 'Answer: <answer>'."


@dataclass
class _Tally:
    plain_right: int = 0
    voted_right: int = 0
    questions: int = 0


def _short(text: str | None, width: int = 70) -> str:
    return textwrap.shorten(" ".join(str(text).split()), width=width)


def _progress(total: int, label: str) -> Any:
    """A callback handler that advances a progress bar (on stderr) as each model call finishes."""
    from langchain_core.callbacks import BaseCallbackHandler
    from tqdm import tqdm

    class SampleProgress(BaseCallbackHandler):
        def __init__(self) -> None:
            self.bar = tqdm(total=total, desc=label, unit="sample", leave=False)

        def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            self.bar.update(1)

        def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
            self.bar.update(1)

    return SampleProgress()


def run_demo(
    *,
    base_url: str | None = None,
    model: str | None = None,
    questions: int = len(DEMO_QUESTIONS),
    samples: int = 8,
    max_tokens: int = 128,
) -> int:
    """Run the tour; returns a process exit code. ``base_url`` None starts the embedded model."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from ttc_plugins.langchain import self_consistency

    prompt = ChatPromptTemplate.from_messages([("user", "{question} " + INSTRUCTION)])
    budget = Budget(max_total_tokens=200_000, name="demo")
    tally = _Tally()
    with model_endpoint(base_url, model) as (url, model_name), budget_scope(budget):
        print(f"model {model_name!r} at {url}\n")
        greedy = (
            prompt | local_chat_model(url, model=model_name, temperature=0.0, max_tokens=max_tokens) | StrOutputParser()
        )
        sampler = (
            prompt | local_chat_model(url, model=model_name, temperature=0.7, max_tokens=max_tokens) | StrOutputParser()
        )
        voter = self_consistency(sampler, n=samples).with_result()
        for number, (question, expected) in enumerate(DEMO_QUESTIONS[:questions], start=1):
            print(f"[{number}/{questions}] {question}  (expected {expected})", flush=True)
            plain_budget = budget.child(name="plain")
            with budget_scope(plain_budget), budget_role("plain"):
                plain = greedy.invoke({"question": question})
            plain_answer = extract_answer(plain)
            plain_ok = same_answer(plain_answer, expected)
            verdict = "right" if plain_ok else "wrong"
            print(
                f"  plain answer: {_short(plain_answer, 10):>10}  {verdict}  ({plain_budget.spent.total_tokens} tokens)"
            )
            print(f"    {_short(plain)}")
            print(f"  self-consistency, {samples} samples:", flush=True)
            progress = _progress(samples, "  sampling")
            result = voter.invoke({"question": question}, {"max_concurrency": 2, "callbacks": [progress]})
            progress.bar.close()
            for candidate in result.candidates:
                shown = candidate.error or _short(candidate.output)
                answer = _short(candidate.answer, 10)
                print(f"    #{candidate.index}  answer {answer:>10}  votes {candidate.votes}   {shown}")
            voted_ok = same_answer(result.answer, expected)
            spend = result.spend
            print(
                f"  chosen: {result.answer}  {'right' if voted_ok else 'wrong'}  "
                f"({spend.calls} calls, {spend.total_tokens:,} tokens, stop: {result.stop_reason})\n",
                flush=True,
            )
            tally.questions += 1
            tally.plain_right += plain_ok
            tally.voted_right += voted_ok
        asked = tally.questions
        print(f"right: plain {tally.plain_right}/{asked}, self-consistency {tally.voted_right}/{asked}")
        print("(a handful of questions shows the mechanics; `make bench` measures accuracy with intervals)\n")

        # About half of what a full run costs on the embedded model (~130 tokens a sample), so it stops.
        cap = 150 + 65 * samples
        print(f"the budget at work: self-consistency again, inside a child budget of {cap} tokens")
        small = budget.child(max_total_tokens=cap, name="small")
        with budget_scope(small):
            result = voter.invoke({"question": DEMO_QUESTIONS[0][0]}, {"max_concurrency": 1})
        refused = sum(c.budget_refused for c in result.candidates)
        print(
            f"  stop: {result.stop_reason}; {len(result.candidates) - refused} samples paid for, {refused} refused "
            f"before being sent; chosen {result.answer}; {small.spent.total_tokens} of {cap} tokens spent\n"
        )
    print(budget.report())
    return 0
