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

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._llm_judge import llm_judge
from ttc_plugins._runnables import model_of, output_parser_of, role_runnable
from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, judged_candidate, question_text
from ttc_plugins.prompts import CRITIC_USER, EDITOR_USER, critic_is_satisfied
from ttc_plugins.results import Candidate, TTCEvent
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, output_text
from ttc_plugins.strategies.refine import AcceptRule, RefineRules, RefineTracker

__all__ = ["Refine", "refine"]


class Refine(SteppedStrategy):
    """Refines the wrapped Runnable's answer in guarded rounds (build with :func:`refine`)."""

    runnable: Runnable[Any, Any]
    critic: Runnable[Any, Any]
    editor: Runnable[Any, Any]
    scorer: Runnable[Any, Any]
    rules: RefineRules = RefineRules()
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    satisfied: Callable[[str], bool] = critic_is_satisfied
    name: str | None = Field(default="refine")

    def _version(self, index: int, output: Any, verdict: Any) -> Candidate:
        candidate = make_candidates([output], start=index, extract=self.extract)[0]
        return judged_candidate(candidate, verdict, step="scoring")

    def _loop(self, input: Any) -> StrategyLoop:
        """The refine loop: each ``yield`` runs one call (for its role) and gets its reply back."""
        question = self.question(input)
        tracker = RefineTracker(self.rules)
        draft = (yield ("generator", self.runnable, [input]))[0]
        if isinstance(draft, BaseException):
            raise draft  # nothing to refine and nothing to return
        verdict = (yield ("verifier", self.scorer, [{"question": question, "candidate": draft}]))[0]
        tracker.add_draft(first := self._version(0, draft, verdict))
        if first.budget_refused:
            tracker.stop_for_budget()
        while tracker.start_round():
            best = output_text(tracker.best.output)
            critique = (yield ("critic", self.critic, [{"question": question, "draft": best}]))[0]
            if isinstance(critique, BudgetExceeded):
                tracker.stop_for_budget()
                break
            index = len(tracker.versions)
            if isinstance(critique, BaseException):
                failed = Candidate(index=index, error=f"critique failed: {type(critique).__name__}: {critique}")
                tracker.consider_edit(failed)
                continue
            feedback = output_text(critique)
            tracker.events.append(TTCEvent(kind="critique", data={"round": tracker.rounds, "critique": feedback}))
            if self.satisfied(feedback):
                tracker.critic_satisfied()
                break
            payload = {"question": question, "draft": best, "feedback": feedback}
            edited = (yield ("editor", self.editor, [payload]))[0]
            if isinstance(edited, BudgetExceeded):
                tracker.stop_for_budget()
                break
            if isinstance(edited, BaseException):
                tracker.consider_edit(Candidate(index=index, error=f"edit failed: {type(edited).__name__}: {edited}"))
                continue
            verdict = (yield ("verifier", self.scorer, [{"question": question, "candidate": edited}]))[0]
            tracker.consider_edit(version := self._version(index, edited, verdict))
            if version.budget_refused:
                tracker.stop_for_budget()
        return tracker.result()


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
    rules = RefineRules(max_rounds=max_rounds, accept=accept, patience=patience, threshold=threshold)
    return Refine(
        runnable=runnable,
        critic=role_runnable(critic, role="critic", template=CRITIC_USER, strategy="refine", fallback=runnable),
        editor=role_runnable(
            editor,
            role="editor",
            template=EDITOR_USER,
            strategy="refine",
            fallback=runnable,
            parser=output_parser_of(runnable),
        ),
        scorer=as_verifier_runnable(scorer) if scorer is not None else _default_scorer(runnable),
        rules=rules,
        question=question,
        extract=extract,
        satisfied=satisfied,
        return_result=return_result,
    )


def _default_scorer(runnable: Runnable[Any, Any]) -> Runnable[Any, Any]:
    model = model_of(runnable)
    if model is None:
        raise ValueError(f"refine() cannot find a chat model in {runnable.get_name()!r} to score with; pass scorer=")
    return llm_judge(model, structured=False)
