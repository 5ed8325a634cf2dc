"""Self-consistency and best-of-N: sample in waves, score (best-of-N), select; once, for every shell.

A run asks its :class:`~ttc_plugins.strategies.sampling_plan.SamplingPlan` for the next wave, draws
that many samples of the user's input in one step (the driver runs them in parallel), turns them
into candidates and, for best-of-N, scores the usable ones in the next step. It repeats until the
plan stops (``"done"``, ``"budget"``, ``"converged"``, ``"threshold"``), then selects: a majority
vote (self-consistency), the best score, the first above a threshold, or the answer with the
highest summed score (weighted best-of-N).

==============  ===========  ==============================  ==========
target          role         payload                         reply
==============  ===========  ==============================  ==========
``generate``    generator    the user's input                an output
``score``       verifier     ``{"question", "candidate"}``   a verdict
==============  ===========  ==============================  ==========

Lineage: a candidate's own call (and its scoring); a voted winner's lineage holds the calls of every
sample that gave its answer, since each of them made it (DSPy passes their traces on as demos).

Example:
    >>> from ttc_plugins.strategies.steps import drive
    >>> replies = iter(["Answer: 7", "Answer: 8", "so, 7"])
    >>> result = drive(self_consistency_loop("3 + 4?", n=3), lambda call: next(replies))
    >>> result.answer, [c.votes for c in result.candidates], result.chosen_candidate.lineage
    ('7', [2, 1, 2], [(0, 0), (0, 2)])
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import (
    AnswerExtractor,
    apply_verdict,
    make_candidates,
    scored_result,
    voted_result,
)
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop
from ttc_plugins.strategies.steps import FamilyLoop, RunLog, Step

__all__ = ["BEST_OF_N_ROLES", "SELF_CONSISTENCY_ROLES", "best_of_n_loop", "scored_step", "self_consistency_loop"]

SELF_CONSISTENCY_ROLES = ("generator",)
BEST_OF_N_ROLES = ("generator", "verifier")

Lineage = dict[int, list[tuple[int, int]]]


def scored_step(
    log: RunLog, question: str, fresh: list[Candidate], made_by: Lineage, *, step: str = "verification"
) -> Generator[Step, list[Any], list[Candidate]]:
    """Score the usable candidates of ``fresh`` in one verifier step; a failed or garbage reply fails
    its candidate only (its error names ``step``), and each scoring call joins its candidate's lineage."""
    pending = [c for c in fresh if c.ok]
    if not pending:
        return fresh
    verdicts = yield log.step("verifier", "score", [{"question": question, "candidate": c.output} for c in pending])
    judged: dict[int, Candidate] = {}
    for position, (candidate, verdict) in enumerate(zip(pending, verdicts, strict=True)):
        judged[candidate.index] = apply_verdict(candidate, verdict, step=step)
        made_by[candidate.index].append((log.last, position))
    return [judged.get(c.index, c) for c in fresh]


def _waves(
    log: RunLog, user_input: Any, plan: SamplingPlan, extract: AnswerExtractor | None, made_by: Lineage,
    question: str | None = None,
) -> Generator[Step, list[Any], list[Candidate]]:  # fmt: skip
    candidates: list[Candidate] = []
    plan.check_fits()  # an n the budget's max_calls can never admit fails before the first call
    while wave := plan.next_wave(candidates):
        outputs = yield log.step("generator", "generate", [user_input] * wave)
        start = len(candidates)
        made_by.update({start + k: [(log.last, k)] for k in range(wave)})
        fresh = make_candidates(outputs, start=start, extract=extract)
        if question is not None:
            fresh = yield from scored_step(log, question, fresh, made_by)
        candidates += fresh
    return candidates


def _with_lineage(result: TTCResult, made_by: Lineage, *, voted: bool = False) -> TTCResult:
    for candidate in result.candidates:
        candidate.lineage = list(made_by.get(candidate.index, []))
    chosen = result.chosen_candidate
    vote = next((e for e in result.events if e.kind == "vote"), None) if voted else None
    if chosen is not None and vote is not None:
        # The vote's own groups (positions among the candidates): no second round of answer matching.
        position = result.candidates.index(chosen)
        group = next(g for g in vote.data["groups"] if position in g)
        chosen.lineage = [call for p in group for call in made_by.get(result.candidates[p].index, [])]
    return result


def self_consistency_loop(
    user_input: Any,
    *,
    n: int,
    adaptive: AdaptiveStop | None = None,
    wave_size: int | None = None,
    same: AnswerMatcher = same_answer,
    extract: AnswerExtractor | None = None,
) -> FamilyLoop:
    """Self-consistency's decisions: up to ``n`` samples (in waves when ``adaptive``), then a majority vote."""
    plan = SamplingPlan(n, wave_size=wave_size, adaptive=adaptive, same=same)
    made_by: Lineage = {}
    candidates = yield from _waves(RunLog(), user_input, plan, extract, made_by)
    result = voted_result(candidates, stop_reason=plan.stop_reason or "done", same=same)
    return _with_lineage(result, made_by, voted=True)


def best_of_n_loop(
    user_input: Any,
    *,
    question: str,
    n: int,
    threshold: float | None = None,
    weighted: bool = False,
    wave_size: int | None = None,
    same: AnswerMatcher = same_answer,
    extract: AnswerExtractor | None = None,
) -> FamilyLoop:
    """Best-of-N's decisions: samples scored as they come (waves when ``threshold``), then the best.

    ``weighted`` selects the answer whose candidates' scores sum highest; ``threshold`` stops at, and
    chooses, the first candidate scored at least that high.
    """
    plan = SamplingPlan(n, wave_size=wave_size, threshold=threshold, same=same)
    made_by: Lineage = {}
    candidates = yield from _waves(RunLog(), user_input, plan, extract, made_by, question=question)
    stop_reason = plan.stop_reason or "done"
    if weighted:
        return _with_lineage(voted_result(candidates, stop_reason=stop_reason, same=same, weighted=True), made_by)
    return _with_lineage(scored_result(candidates, stop_reason=stop_reason, threshold=threshold), made_by)
