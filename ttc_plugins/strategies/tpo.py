"""Test-time preference optimisation (TPO): its rounds and decisions, once, for every shell.

Each round samples ``samples`` responses and scores them. Between rounds the best response so far is
"chosen" and the worst "rejected" (:func:`~ttc_plugins.strategies.refine.preference_pair`); a critic
explains why chosen beats rejected (the textual loss), turns that into suggestions (the textual
gradient), and the next round's responses are rewritten from the chosen one and the suggestions. The
result is the best-scored response of all rounds; each round's best score (the curve the TPO paper
reports) is a ``round_best`` event.

Stops: ``"done"`` after ``rounds`` rounds; ``"converged"`` when every scored response is equally good
(nothing to learn from); ``"budget"`` when a call is refused; ``"error"`` when the loss or gradient
call fails.

The calls it asks for (targets and payloads), which each shell binds to its own framework:

==============  ===========  =================================================================  ============
target          role         payload                                                            reply
==============  ===========  =================================================================  ============
``generate``    generator    the user's input                                                   a response
``score``       verifier     ``{"question", "candidate"}``                                      a verdict
``loss``        critic       ``{"question", "chosen", "rejected", "chosen_score", "rejected_score"}``  text
``gradient``    critic       ``{"question", "loss"}``                                           text
``update``      generator    ``{"question", "chosen", "gradient"}``                             a response
==============  ===========  =================================================================  ============

Each candidate's ``lineage`` lists the ``(step, call)`` numbers that made it: its own call, its
scoring, and for a rewrite the loss and gradient that guided it (DSPy passes their traces on).

Example:
    >>> from ttc_plugins.strategies.steps import drive
    >>> drafts = iter(["short", "a bit longer"])
    >>> texts = {"loss": "longer is better", "gradient": "write more", "update": "the longest answer of all"}
    >>> def respond(call):
    ...     if call.target == "score":
    ...         return min(len(call.payload["candidate"]) / 30, 1.0)
    ...     return next(drafts) if call.target == "generate" else texts[call.target]
    >>> result = drive(tpo_loop("Describe the sea.", question="Describe the sea.", samples=2, rounds=1), respond)
    >>> result.output, round_best_scores(result), result.stop_reason
    ('the longest answer of all', [0.4, 0.8333333333333334], 'done')
    >>> result.chosen_candidate.lineage  # the loss, the gradient, its own update call, its scoring
    [(2, 0), (3, 0), (4, 0), (5, 0)]
"""

from __future__ import annotations

from typing import Any

from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.results import Candidate, StopReason, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, scored_result
from ttc_plugins.strategies.options import check_samples_fit
from ttc_plugins.strategies.refine import preference_pair
from ttc_plugins.strategies.sampling import scored_step
from ttc_plugins.strategies.steps import FamilyLoop, RunLog

__all__ = ["ROLES", "round_best_scores", "tpo_loop"]

ROLES = ("generator", "verifier", "critic")
"""The budget roles of TPO's steps (a LangGraph step graph has a node for each)."""


def round_best_scores(result: TTCResult) -> list[float | None]:
    """The best score of each round of a TPO run (round 0 is the initial samples)."""
    return [event.data["best_score"] for event in result.events if event.kind == "round_best"]


def _round_best(log: RunLog, round_number: int, fresh: list[Candidate]) -> None:
    scores = [c.score for c in fresh if c.ok and c.score is not None]
    log.event("round_best", round=round_number, best_score=max(scores) if scores else None)


def _stop_for(reply: BaseException) -> StopReason:
    return "budget" if isinstance(reply, BudgetExceeded) else "error"


def tpo_loop(
    user_input: Any, *, question: str, samples: int, rounds: int, extract: AnswerExtractor | None = None
) -> FamilyLoop:
    """TPO's decisions as a step generator (see the module docstring).

    The factories check the options when a strategy is built; what depends on the budget is checked
    here, before the first call: each round draws all ``samples``, so they must fit its ``max_calls``.

    Args:
        user_input: what ``generate`` is given (the wrapped chain's input, a DSPy module's inputs).
        question: the question text for the scorer and the critic.
        samples: responses per round.
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        extract: ``output -> answer`` for the result's ``answer``.
    """
    check_samples_fit(samples, name="samples")
    log = RunLog()
    made_by: dict[int, list[tuple[int, int]]] = {}
    drafted = yield log.step("generator", "generate", [user_input] * samples)
    made_by.update({index: [(log.last, index)] for index in range(samples)})
    drafts = make_candidates(drafted, start=0, extract=extract)
    pool = yield from scored_step(log, question, drafts, made_by, step="scoring")
    _round_best(log, 0, pool)
    stop: StopReason = "budget" if any(c.budget_refused for c in pool) else "done"
    for round_number in range(1, rounds + 1):
        pair = preference_pair(pool) if stop != "budget" else None
        if pair is None:
            if stop != "budget":
                stop = "converged"  # nothing to learn from: every scored response is equally good
                log.event("no_preference", round=round_number)
            break
        chosen, rejected = pair
        compared = {"question": question, "chosen": chosen.output, "rejected": rejected.output,
                    "chosen_score": chosen.score, "rejected_score": rejected.score}  # fmt: skip
        (loss,) = yield log.step("critic", "loss", [compared])
        loss_call = (log.last, 0)
        if isinstance(loss, BaseException):
            stop = _stop_for(loss)
            log.event("loss_failed", round=round_number, error=repr(loss))
            break
        (gradient,) = yield log.step("critic", "gradient", [{"question": question, "loss": loss}])
        gradient_call = (log.last, 0)
        if isinstance(gradient, BaseException):
            stop = _stop_for(gradient)
            log.event("gradient_failed", round=round_number, error=repr(gradient))
            break
        log.event("textual_gradient", round=round_number, chosen=chosen.index, rejected=rejected.index,
                    loss=loss, gradient=gradient)  # fmt: skip
        update = {"question": question, "chosen": chosen.output, "gradient": gradient}
        rewritten = yield log.step("generator", "update", [update] * samples)
        start = len(pool)
        made_by.update({start + k: [loss_call, gradient_call, (log.last, k)] for k in range(samples)})
        fresh = make_candidates(rewritten, start=start, extract=extract)
        fresh = yield from scored_step(log, question, fresh, made_by, step="scoring")
        pool += fresh
        _round_best(log, round_number, fresh)
        if any(c.budget_refused for c in fresh):
            stop = "budget"
    result = scored_result(pool, stop_reason=stop, events=log.events)
    for candidate in result.candidates:
        candidate.lineage = made_by.get(candidate.index, [])
    return result
