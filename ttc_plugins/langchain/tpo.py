"""Test-time preference optimisation (TPO): improve responses with textual "gradients" between rounds.

Each round samples ``samples`` responses and scores them. Between rounds, the best response so far
is "chosen" and the worst "rejected"; the model explains why chosen beats rejected (a textual loss),
turns that into concrete suggestions (a textual gradient), and writes the next round's responses
from the chosen one and the suggestions. The result is the best-scored response over all rounds;
the per-round best scores (the curve the TPO paper reports) are in the events and in
:func:`round_best_scores`. Calls are charged by role: "generator", "verifier", "critic" (loss and
gradient).

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> from ttc_plugins.verifiers import programmatic
    >>> drafts = iter(["short", "a bit longer", "the longest answer of all"])
    >>> solver = tpo(
    ...     RunnableLambda(lambda q: next(drafts)),
    ...     scorer=programmatic(lambda q, text: min(len(text) / 30, 1.0), on="output"),
    ...     samples=2, rounds=1,
    ...     loss=RunnableLambda(lambda d: "longer is better"),
    ...     gradient=RunnableLambda(lambda d: "write more"),
    ...     update=RunnableLambda(lambda d: next(drafts)),
    ... )
    >>> result = solver.with_result().invoke("Describe the sea.", {"max_concurrency": 1})
    >>> result.output, round_best_scores(result)
    ('the longest answer of all', [0.4, 0.8333333333333334])
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import output_parser_of, role_runnable
from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, judged_candidate, question_text
from ttc_plugins.prompts import TPO_GRADIENT_USER, TPO_LOSS_USER, TPO_UPDATE_USER
from ttc_plugins.results import Candidate, TTCEvent, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, output_text, scored_result
from ttc_plugins.strategies.options import check_count, check_sample_count, check_samples_fit
from ttc_plugins.strategies.refine import preference_pair

__all__ = ["TPO", "round_best_scores", "tpo"]


def round_best_scores(result: TTCResult) -> list[float | None]:
    """The best score of each round of a TPO run (round 0 is the initial samples)."""
    return [event.data["best_score"] for event in result.events if event.kind == "round_best"]


class TPO(SteppedStrategy):
    """Samples, scores, and rewrites from textual preference feedback (build with :func:`tpo`)."""

    runnable: Runnable[Any, Any]
    scorer: Runnable[Any, Any]
    loss: Runnable[Any, Any]
    gradient: Runnable[Any, Any]
    update: Runnable[Any, Any]
    samples: int = 4
    rounds: int = 2
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    name: str | None = Field(default="tpo")

    def _scored(self, question: str, fresh: list[Candidate]) -> StrategyLoop:
        pending = [c for c in fresh if c.ok]
        if not pending:
            return fresh
        verdicts = yield ("verifier", self.scorer, [{"question": question, "candidate": c.output} for c in pending])
        judged = {c.index: judged_candidate(c, v, step="scoring") for c, v in zip(pending, verdicts, strict=True)}
        return [judged.get(c.index, c) for c in fresh]

    @staticmethod
    def _round_best(round_number: int, fresh: list[Candidate]) -> TTCEvent:
        scores = [c.score for c in fresh if c.ok and c.score is not None]
        return TTCEvent(kind="round_best", data={"round": round_number, "best_score": max(scores) if scores else None})

    def _loop(self, input: Any) -> StrategyLoop:
        check_samples_fit(self.samples, name="samples")  # before the first call: each round draws them all
        question = self.question(input)
        drafted = yield ("generator", self.runnable, [input] * self.samples)
        pool = yield from self._scored(question, make_candidates(drafted, start=0, extract=self.extract))
        events = [self._round_best(0, pool)]
        stop = "budget" if any(c.budget_refused for c in pool) else "done"
        for round_number in range(1, self.rounds + 1):
            pair = preference_pair(pool) if stop != "budget" else None
            if pair is None:
                if stop != "budget":
                    stop = "converged"  # nothing to learn from: every scored response is equally good
                    events.append(TTCEvent(kind="no_preference", data={"round": round_number}))
                break
            chosen, rejected = pair
            payload = {
                "question": question,
                "chosen": output_text(chosen.output),
                "rejected": output_text(rejected.output),
                "chosen_score": chosen.score,
                "rejected_score": rejected.score,
            }
            (loss,) = yield ("critic", self.loss, [payload])
            if isinstance(loss, BaseException):
                stop = "budget" if isinstance(loss, BudgetExceeded) else "error"
                events.append(TTCEvent(kind="loss_failed", data={"round": round_number, "error": repr(loss)}))
                break
            (gradient,) = yield ("critic", self.gradient, [{"question": question, "loss": output_text(loss)}])
            if isinstance(gradient, BaseException):
                stop = "budget" if isinstance(gradient, BudgetExceeded) else "error"
                events.append(TTCEvent(kind="gradient_failed", data={"round": round_number, "error": repr(gradient)}))
                break
            data = {"round": round_number, "chosen": chosen.index, "rejected": rejected.index,
                    "loss": output_text(loss), "gradient": output_text(gradient)}  # fmt: skip
            events.append(TTCEvent(kind="textual_gradient", data=data))
            update = {"question": question, "chosen": payload["chosen"], "gradient": output_text(gradient)}
            rewritten = yield ("generator", self.update, [update] * self.samples)
            fresh = yield from self._scored(question, make_candidates(rewritten, start=len(pool), extract=self.extract))
            pool += fresh
            events.append(self._round_best(round_number, fresh))
            if any(c.budget_refused for c in fresh):
                stop = "budget"
        return scored_result(pool, stop_reason=stop, events=events)


def tpo(
    runnable: Runnable[Any, Any],
    *,
    scorer: Any,
    samples: int = 4,
    rounds: int = 2,
    loss: Any = None,
    gradient: Any = None,
    update: Any = None,
    question: QuestionFormatter = question_text,
    extract: AnswerExtractor | None = None,
    return_result: bool = False,
) -> TPO:
    """Wrap a chain or model with test-time preference optimisation.

    Args:
        runnable: produces the first round's responses (temperature > 0 so they differ).
        scorer: any verifier (``llm_judge(model)`` as the paper's reward model, ``programmatic``, ...).
        samples: responses per round.
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        loss / gradient / update: the three textual steps; each a chat model (given its prompt), a
            Runnable or a function over its payload dict; by default the runnable's own chat model
            (the update step reuses the runnable's output parser, so responses keep its type).
        question: ``input -> question text`` for the prompts.
        extract: ``output -> answer`` for the result's ``answer``.
        return_result: return the full TTCResult rather than the best response.

    Raises:
        ValueError: ``samples`` below 2 (there would be no preference to learn), negative ``rounds``,
            or no chat model to default a textual step to.
        AllCandidatesFailed: no response could be generated and scored.
    """
    check_sample_count(samples, name="samples", minimum=2)  # a chosen and a rejected response
    check_count(rounds, name="rounds", minimum=0)
    steps = {"strategy": "tpo", "fallback": runnable}
    return TPO(
        runnable=runnable,
        scorer=as_verifier_runnable(scorer),
        loss=role_runnable(loss, role="loss", template=TPO_LOSS_USER, **steps),
        gradient=role_runnable(gradient, role="gradient", template=TPO_GRADIENT_USER, **steps),
        update=role_runnable(
            update, role="update", template=TPO_UPDATE_USER, parser=output_parser_of(runnable), **steps
        ),
        samples=samples,
        rounds=rounds,
        question=question,
        extract=extract,
        return_result=return_result,
    )
