"""Guarded self-refine for any LangChain Runnable: draft → critique → edit → score, keeping the best.

An edit is accepted only if the scorer does not rate it lower than the best version so far, so the
run can never end worse than its draft; it returns the best version, not the last one, and stops
for a named reason (see :mod:`ttc_plugins.strategies.refine`). Calls are charged by role:
"generator" (draft), "critic", "editor", "verifier" (scorer).

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> from ttc_plugins.verifiers import programmatic
    >>> draft = RunnableLambda(lambda q: "3 + 4 = 8. Answer: 8")
    >>> critic = RunnableLambda(lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "3 + 4 is 7, not 8.")
    >>> editor = RunnableLambda(lambda d: "3 + 4 = 7. Answer: 7")
    >>> solver = refine(draft, critic=critic, editor=editor, scorer=programmatic(lambda q, a: a == "7"))
    >>> result = solver.with_result().invoke("What is 3 + 4?")
    >>> result.output, result.stop_reason, [e.data["rule"] for e in result.events if e.kind == "stop"]
    ('3 + 4 = 7. Answer: 7', 'converged', ['critic_satisfied'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._llm_judge import scorer_or_own_judge
from ttc_plugins._runnables import output_parser_of, role_runnable
from ttc_plugins.langchain._stepped import Binding, SteppedStrategy, StrategyLoop, texts_of
from ttc_plugins.langchain.verification import QuestionFormatter, question_text
from ttc_plugins.prompts import CRITIC_USER, EDITOR_USER, critic_is_satisfied
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.refine import AcceptRule, RefineRules, refine_loop

__all__ = ["Refine", "refine"]


class Refine(SteppedStrategy):
    """Refines the wrapped Runnable's answer in guarded rounds (build with :func:`refine`).

    Its rounds and decisions are :func:`ttc_plugins.strategies.refine.refine_loop`'s; this binds the
    core's call targets to the wrapped chain, the critic, the editor and the scorer.
    """

    runnable: Runnable[Any, Any]
    critic: Runnable[Any, Any]
    editor: Runnable[Any, Any]
    scorer: Runnable[Any, Any]
    rules: RefineRules = RefineRules()
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    satisfied: Callable[[str], bool] = critic_is_satisfied
    name: str | None = Field(default="refine")

    def _bindings(self) -> Mapping[str, Binding]:
        return {
            "draft": Binding(self.runnable),
            "score": Binding(self.scorer),
            "critique": Binding(self.critic, render=texts_of("draft"), read=output_text),
            "edit": Binding(self.editor, render=texts_of("draft")),
        }

    def _loop(self, input: Any) -> StrategyLoop:
        core = refine_loop(
            input, question=self.question(input), rules=self.rules, satisfied=self.satisfied, extract=self.extract
        )
        return (yield from core)


def refine(
    runnable: Runnable[Any, Any],
    *,
    critic: Any = None,
    editor: Any = None,
    scorer: Any = None,
    max_rounds: int = 3,
    accept: AcceptRule = "not_lower",
    patience: int | None = 2,
    threshold: float | None = None,
    question: QuestionFormatter = question_text,
    extract: AnswerExtractor | None = None,
    satisfied: Callable[[str], bool] = critic_is_satisfied,
    return_result: bool = False,
) -> Refine:
    """Wrap a chain or model so its answer is refined with feedback, never ending worse than its draft.

    Args:
        runnable: produces the draft from the input (a chat model or any chain).
        critic: a chat model (a dedicated feedback model, given the critic prompt that answers
            ``NO ISSUES`` when satisfied), or a Runnable or function ``{"question", "draft"} ->
            feedback``; by default the runnable's own chat model with the critic prompt.
        editor: a chat model (a dedicated edit model, given the edit prompt), or a Runnable or
            function ``{"question", "draft", "feedback"} -> new version``; by default the runnable's
            own model. Chat-model editors reuse the chain's output parser, so versions keep its type.
        scorer: any verifier (``programmatic(check)``, ``llm_judge(model)``, a function or Runnable);
            by default an LLM judge on the runnable's own model. Use a programmatic check where you
            have one: a small model judging itself is a weak guard.
        max_rounds: the most critique → edit rounds.
        accept: ``"not_lower"`` (ties pass) or ``"higher"`` (strict gain) to accept an edit.
        patience: stop after this many rounds in a row without an accepted edit (None: never).
        threshold: stop once the best score reaches this.
        question: ``input -> question text`` for the critic, editor and scorer.
        extract: ``output -> answer`` for the result's ``answer``.
        satisfied: ``feedback -> bool``, whether the critic found nothing to fix.
        return_result: return the full TTCResult rather than the best version's output.

    Raises:
        ValueError: bad rules, or no critic/editor/scorer given and no chat model to default to.
        BudgetExceeded: the budget could not pay for the draft.
    """
    roles = {"strategy": "refine", "fallback": runnable}
    return Refine(
        runnable=runnable,
        critic=role_runnable(critic, role="critic", template=CRITIC_USER, **roles),
        editor=role_runnable(editor, role="editor", template=EDITOR_USER, parser=output_parser_of(runnable), **roles),
        scorer=scorer_or_own_judge(scorer, runnable, strategy="refine"),
        rules=RefineRules(max_rounds=max_rounds, accept=accept, patience=patience, threshold=threshold),
        question=question, extract=extract, satisfied=satisfied, return_result=return_result,
    )  # fmt: skip
