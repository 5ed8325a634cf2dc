"""What every strategy returns, whichever framework ran it.

A :class:`TTCResult` carries the chosen output and its extracted answer, every candidate with its
score, votes, tokens and error, the spend, why the run stopped, and the step-by-step events, so a user
can always see why an answer won.

Example:
    >>> from ttc_plugins import Candidate, TTCResult
    >>> result = TTCResult(
    ...     output="... Answer: 4",
    ...     answer="4",
    ...     candidates=[Candidate(index=0, output="... Answer: 4", answer="4", votes=1)],
    ...     chosen=0,
    ... )
    >>> result.chosen_candidate.answer, result.stop_reason
    ('4', 'done')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ttc_plugins._spend import Spend

__all__ = [
    "AllCandidatesFailed",
    "Candidate",
    "InvalidVerdict",
    "StopReason",
    "TTCEvent",
    "TTCResult",
    "Verdict",
    "parse_verdict",
]

StopReason = Literal["done", "budget", "threshold", "converged", "error"]


class AllCandidatesFailed(RuntimeError):
    """Every candidate of a strategy failed, so there is nothing to return; the message has the first failure.

    Attributes:
        candidates: every candidate drawn, each with its ``error`` (what a caller or a benchmark needs
            to report how many were tried and why each failed).

    Example:
        >>> failed = AllCandidatesFailed("all 1 candidates failed", candidates=[Candidate(index=0, error="boom")])
        >>> [c.error for c in failed.candidates]
        ['boom']
    """

    def __init__(self, message: str, *, candidates: Sequence[Candidate] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class InvalidVerdict(ValueError):
    """A verifier replied with something that is not a verdict; the candidate is marked, not the run."""


class Verdict(BaseModel):
    """A verifier's judgement of one candidate.

    Attributes:
        score: how good the candidate is, in [0, 1].
        is_correct: the verifier's yes/no, when it gives one.
        critique: the reasons, in words (shown to users and to refine strategies).
    """

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    is_correct: bool | None = None
    critique: str = ""


def parse_verdict(raw: Any) -> Verdict:
    """Turn what a verifier returned into a :class:`Verdict`, or raise :class:`InvalidVerdict`.

    Accepts a Verdict, a bool (pass/fail), a number in [0, 1], or a mapping with ``score`` and
    optionally ``is_correct`` and ``critique``. Anything else, NaN, or a score outside [0, 1] is
    invalid: a verifier that returns garbage fails that candidate's verification, loudly.

    Example:
        >>> parse_verdict(True).score, parse_verdict(0.25).score
        (1.0, 0.25)
        >>> parse_verdict({"score": 2})
        Traceback (most recent call last):
        ...
        ttc_plugins.results.InvalidVerdict: verifier returned a score outside [0, 1]: 2
    """
    if isinstance(raw, Verdict):
        return raw
    if isinstance(raw, bool):
        return Verdict(score=float(raw), is_correct=raw)
    if isinstance(raw, int | float):
        return Verdict(score=_check_score(raw))
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    if isinstance(raw, Mapping):
        if "score" not in raw and "is_correct" in raw and isinstance(raw["is_correct"], bool):
            raw = {**raw, "score": float(raw["is_correct"])}
        if "score" not in raw:
            raise InvalidVerdict(f"verifier returned a mapping without a score: {short_repr(dict(raw), 200)}")
        score = raw["score"]
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise InvalidVerdict(f"verifier returned a non-numeric score: {short_repr(score)}")
        _check_score(score)
        try:
            return Verdict.model_validate(dict(raw))
        except ValidationError as error:
            raise InvalidVerdict(f"verifier returned an invalid verdict: {error}") from error
    raise InvalidVerdict(
        f"verifier returned {type(raw).__name__}, not a Verdict, bool, number or mapping: {short_repr(raw, 200)}"
    )


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, and safe for an int too long for ``repr`` to print.

    A verifier or an option can be ``10**5000``, whose repr raises ValueError (Python refuses to print
    ints of more than 4,300 digits): the message about a bad value must not itself crash.

    Example:
        >>> short_repr(10**5000), short_repr("x" * 100, limit=10)
        ('an integer of about 5001 digits', "'xxxxxx...")
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**100:
        return f"an integer of about {math.floor(math.log10(abs(value))) + 1} digits"
    try:
        text = repr(value)
    except ValueError:  # a container holding such an int
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_score(score: float) -> float:
    if isinstance(score, float) and math.isnan(score):
        raise InvalidVerdict("verifier returned a NaN score")
    if not 0.0 <= score <= 1.0:
        raise InvalidVerdict(f"verifier returned a score outside [0, 1]: {short_repr(score)}")
    return float(score)


class Candidate(BaseModel):
    """One sampled (or refined) output and everything learned about it.

    A candidate whose generation or verification failed keeps its ``error`` and is left out of any
    vote or selection, but stays in the result so the failure is visible. ``budget_refused`` marks a
    sample the budget would not pay for (it was never sent).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: int
    output: Any = None
    answer: str | None = None
    score: float | None = None
    verdict: Verdict | None = None
    votes: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    budget_refused: bool = False
    lineage: list[tuple[int, int]] = Field(
        default_factory=list,
        description="(step, call) numbers of the calls that made this candidate, where a family records them",
    )
    _exception: BaseException | None = PrivateAttr(default=None)

    @property
    def exception(self) -> BaseException | None:
        """The exception behind ``error``, when this process saw it raised (not serialised)."""
        return self._exception

    @property
    def ok(self) -> bool:
        """True when the candidate produced output without an error."""
        return self.error is None


class TTCEvent(BaseModel):
    """One step of a strategy's run, e.g. ``TTCEvent(kind="round_best", data={"round": 1, "best_score": 0.9})``."""

    kind: str
    data: dict[str, Any] = Field(default_factory=dict)


class TTCResult(BaseModel):
    """The chosen output, all candidates, the spend and why the run stopped."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    output: Any = None
    answer: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    chosen: int | None = None
    spend: Spend | None = None
    stop_reason: StopReason = "done"
    events: list[TTCEvent] = Field(default_factory=list)

    @property
    def chosen_candidate(self) -> Candidate | None:
        if self.chosen is None:
            return None
        return next((c for c in self.candidates if c.index == self.chosen), None)

    @property
    def failures(self) -> list[Candidate]:
        """The candidates that errored, in order."""
        return [c for c in self.candidates if not c.ok]
