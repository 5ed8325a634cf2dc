"""Refine-with-feedback decisions, shared by every shell: never trade a better answer for a worse one.

Self-correction "sounds beautiful, easy to crash": asked to check their work, models often turn a
right answer into a wrong one. So a refine run keeps every version, accepts an edit only when the
scorer does not rate it lower than the best so far (or only when strictly higher), and returns the
best version, not the last. It stops, and says why, when:

====================  =========  ==============================================  ==========================
target        role       payload                                         reply
============  =========  ==============================================  ==========================
``draft``     generator  the user's input                                the first version
``score``     verifier   ``{"question", "candidate"}``                   a verdict
``critique``  critic     ``{"question", "draft"}``                       feedback text
``review``    human      ``{"question", "draft", "feedback", "round"}``  see :func:`human_decision`
``edit``      editor     ``{"question", "draft", "feedback"}``           a new version
============  =========  ==============================================  ==========================

``draft`` in the critique and edit payloads is the best version's output object, which each shell
renders its own way (text in LangChain, fenced fields in DSPy); in a review it is that version's text,
for a person to read. ``review`` is asked only with ``human_review=True``, after each critique that
is not satisfied. Each version's ``lineage`` names the calls that made it: the draft call and its
scoring; for an edit its critique, its review (if any), the edit call and its scoring. The critique
that found nothing to improve joins the winner's lineage too: it is the critic's verdict on it.

Example:
    >>> from ttc_plugins import Candidate
    >>> tracker = RefineTracker(RefineRules(max_rounds=3, patience=1))
    >>> tracker.add_draft(Candidate(index=0, output="draft", answer="12", score=0.6))
    >>> tracker.start_round()
    True
    >>> tracker.consider_edit(Candidate(index=1, output="worse", answer="13", score=0.2))
    False
    >>> tracker.start_round(), tracker.stop_rule, tracker.best.output
    (False, 'patience', 'draft')
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ttc_plugins.results import Candidate, StopReason, TTCEvent, TTCResult
from ttc_plugins.strategies.candidates import (
    AnswerExtractor,
    apply_verdict,
    make_candidates,
    output_text,
    stops_the_run,
)
from ttc_plugins.strategies.options import check_count, check_threshold
from ttc_plugins.strategies.steps import FamilyLoop, RunLog, Step

__all__ = [
    "HUMAN_ANSWERS",
    "ROLES",
    "AcceptRule",
    "RefineRules",
    "RefineTracker",
    "human_decision",
    "preference_pair",
    "refine_loop",
]

ROLES = ("generator", "verifier", "critic", "editor", "human")
"""The budget roles of refine's steps (a LangGraph step graph has a node for each); "human" only with review."""

HUMAN_ANSWERS = "True or None (approve the feedback), a non-empty string (replace it) or {'stop': True}"
"""What a human reviewer may answer, for the message that asks again (or refuses) after anything else."""

AcceptRule = Literal["not_lower", "higher"]
StopRule = Literal["critic_satisfied", "threshold", "patience", "max_rounds", "budget"]

_STOP_REASON: dict[str, StopReason] = {
    "critic_satisfied": "converged",
    "threshold": "threshold",
    "patience": "converged",
    "max_rounds": "done",
    "budget": "budget",
}


@dataclass(frozen=True)
class RefineRules:
    """When an edit is accepted and when refining stops.

    Args:
        max_rounds: the most critique → edit rounds after the draft.
        accept: ``"not_lower"`` accepts an edit scored at least as high as the best so far (lets a
            refinement that the scorer cannot tell apart through); ``"higher"`` demands a strict gain.
        patience: stop after this many rounds in a row without an accepted edit (None: never).
        threshold: stop once the best score reaches this (None: never).
    """

    max_rounds: int = 3
    accept: AcceptRule = "not_lower"
    patience: int | None = 2
    threshold: float | None = None

    def __post_init__(self) -> None:
        check_count(self.max_rounds, name="max_rounds", minimum=0)
        if self.accept not in ("not_lower", "higher"):
            raise ValueError(f"accept must be 'not_lower' or 'higher', got {self.accept!r}")
        check_count(self.patience, name="patience", optional=True)
        check_threshold(self.threshold)


class RefineTracker:
    """Keeps every version and the best one, judges each edit, and decides whether to go on.

    Use one tracker per run::

        tracker.add_draft(scored_draft)
        while tracker.start_round():          # threshold, patience and max_rounds are checked here
            critique = critic(tracker.best)
            if nothing_to_fix(critique):
                tracker.critic_satisfied()
                break
            tracker.consider_edit(scored(editor(tracker.best, critique)))

    and ``stop_for_budget()`` when the budget refuses a call; ``result()`` at the end.
    """

    def __init__(self, rules: RefineRules) -> None:
        self.rules = rules
        self.versions: list[Candidate] = []
        self.best: Candidate | None = None
        self.rounds = 0
        self.rounds_without_accept = 0
        self._accepted_this_round = False
        self.stop_rule: StopRule | None = None
        self.events: list[TTCEvent] = []

    @staticmethod
    def _score(candidate: Candidate | None) -> float:
        # An unscored version (its scoring failed) ranks below every scored one.
        return -1.0 if candidate is None or candidate.score is None or not candidate.ok else candidate.score

    def add_draft(self, draft: Candidate) -> None:
        """Record the first version; it is the best until an edit beats it."""
        if self.versions:
            raise RuntimeError("add_draft() is called once per run, before any edit")
        self.versions.append(draft)
        self.best = draft
        self.events.append(TTCEvent(kind="draft", data={"index": draft.index, "score": draft.score}))

    def consider_edit(self, edit: Candidate) -> bool:
        """Record an edit of the current best and say whether it replaces it."""
        if self.best is None:
            raise RuntimeError("add_draft() must come before consider_edit()")
        self.versions.append(edit)
        best, new = self._score(self.best), self._score(edit)
        accepted = edit.ok and edit.score is not None and (new > best if self.rules.accept == "higher" else new >= best)
        if accepted:
            self.best = edit
            self._accepted_this_round = True
        kind = "edit_accepted" if accepted else "edit_rejected"
        self.events.append(TTCEvent(kind=kind, data={"index": edit.index, "score": edit.score, "best_score": best}))
        return accepted

    def start_round(self) -> bool:
        """Close the current round (if any) and start the next one, unless a stop rule says otherwise."""
        if self.best is None:
            raise RuntimeError("add_draft() must come before start_round()")
        if self.stop_rule is not None:
            return False
        if self.rounds:
            self.rounds_without_accept = 0 if self._accepted_this_round else self.rounds_without_accept + 1
        self._accepted_this_round = False
        if self.rules.threshold is not None and self._score(self.best) >= self.rules.threshold:
            return self._stop("threshold")
        if self.rules.patience is not None and self.rounds_without_accept >= self.rules.patience:
            return self._stop("patience")
        if self.rounds >= self.rules.max_rounds:
            return self._stop("max_rounds")
        self.rounds += 1
        self.events.append(TTCEvent(kind="round", data={"round": self.rounds}))
        return True

    def critic_satisfied(self) -> None:
        """The critic found nothing to improve in the best version: stop."""
        if self.stop_rule is None:
            self._stop("critic_satisfied")

    def stop_for_budget(self) -> None:
        """The budget refused a call: stop now and keep the best so far."""
        if self.stop_rule is None:
            self._stop("budget")

    def _stop(self, rule: StopRule) -> bool:
        self.stop_rule = rule
        self.events.append(TTCEvent(kind="stop", data={"rule": rule, "rounds": self.rounds}))
        return False

    @property
    def stop_reason(self) -> StopReason:
        return _STOP_REASON[self.stop_rule] if self.stop_rule else "done"

    def result(self) -> TTCResult:
        """The best version as the output, every version as a candidate, and the events that explain it."""
        if self.best is None:
            raise RuntimeError("nothing was drafted")
        return TTCResult(
            output=self.best.output,
            answer=self.best.answer,
            candidates=list(self.versions),
            chosen=self.best.index,
            stop_reason=self.stop_reason,
            events=list(self.events),
        )


def preference_pair(candidates: Sequence[Candidate]) -> tuple[Candidate, Candidate] | None:
    """TPO's chosen and rejected responses: the highest- and the lowest-scored candidates.

    Ties go to the earlier candidate for "chosen" and the later one for "rejected". None when fewer
    than two candidates were scored or all scores are equal (no preference to learn from).

    Example:
        >>> from ttc_plugins import Candidate
        >>> pair = preference_pair([Candidate(index=i, score=s) for i, s in enumerate([0.4, 0.9, 0.1, 0.9])])
        >>> pair[0].index, pair[1].index
        (1, 2)
    """
    scored = [c for c in candidates if c.ok and c.score is not None]
    if len(scored) < 2:
        return None
    chosen = max(scored, key=lambda c: (c.score, -c.index))
    rejected = min(scored, key=lambda c: (c.score, -c.index))
    if chosen.score == rejected.score:
        return None
    return chosen, rejected


def human_decision(answer: Any) -> tuple[str, str | None] | None:
    """What a human reviewer's answer asks for: ``("approve", None)``, ``("replace", text)`` or
    ``("stop", None)``; None when it is none of :data:`HUMAN_ANSWERS` (a shell may ask again).

    Example:
        >>> human_decision(None), human_decision("Check the units."), human_decision({"stop": True})
        (('approve', None), ('replace', 'Check the units.'), ('stop', None))
        >>> human_decision("  ") is None, human_decision(False) is None
        (True, True)
    """
    if answer is None or answer is True:
        return "approve", None
    if isinstance(answer, str) and answer.strip():
        return "replace", answer
    if isinstance(answer, Mapping) and answer.get("stop") is True:
        return "stop", None
    return None


_Lineage = list[tuple[int, int]]  # (step, call) numbers


def _failed(index: int, step: str, error: BaseException) -> Candidate:
    # A version that never came to be: it still costs its round (patience counts it), not the run.
    failed = Candidate(index=index, error=f"{step} failed: {type(error).__name__}: {error}")
    failed._exception = error
    return failed


def _version(
    log: RunLog, question: str, index: int, output: Any, extract: AnswerExtractor | None
) -> Generator[Step, list[Any], tuple[Candidate, tuple[int, int]]]:
    """A drafted or edited output as a scored version, and the number of its scoring call."""
    unscored = make_candidates([output], start=index, extract=extract)[0]
    (verdict,) = yield log.step("verifier", "score", [{"question": question, "candidate": unscored.output}])
    return apply_verdict(unscored, verdict, step="scoring"), (log.last, 0)


def _reviewed(
    log: RunLog, tracker: RefineTracker, question: str, feedback: str
) -> Generator[Step, list[Any], str | None]:
    """Ask a human about the critic's feedback: the feedback to edit with, or None when they stop the run."""
    request = {"question": question, "draft": output_text(tracker.best.output), "feedback": feedback,
               "round": tracker.rounds}  # fmt: skip
    (answer,) = yield log.step("human", "review", [request])
    if isinstance(answer, BaseException):
        raise answer  # the review itself broke: there is no decision to act on
    decision = human_decision(answer)
    if decision is None:
        raise ValueError(f"a human review answers {HUMAN_ANSWERS}; got {answer!r}")
    kind, replacement = decision
    if kind == "stop":  # the human plays the critic who is satisfied
        log.event("human_stop", round=tracker.rounds)
        tracker.critic_satisfied()
        return None
    feedback = replacement if replacement is not None else feedback
    log.event("human_feedback", round=tracker.rounds, decision=kind, feedback=feedback)
    return feedback


def refine_loop(
    user_input: Any,
    *,
    question: str,
    rules: RefineRules,
    satisfied: Callable[[str], bool],
    extract: AnswerExtractor | None = None,
    human_review: bool = False,
) -> FamilyLoop:
    """Guarded self-refine as a step generator: draft, then critique → [review] → edit → score rounds.

    A failed draft is raised (there is nothing to refine or return). A failed critique or edit costs
    its round as a failed version. A budget refusal that stops the run (``stops_the_run``) of a
    critique, an edit or a scoring stops refining with the best version so far; a refusal by a budget
    made inside the call fails that call only, like any other failure.

    Args:
        user_input: what ``draft`` is given (the wrapped chain's input, a DSPy module's inputs).
        question: the question text for the scorer, the critic, the editor and a reviewer.
        rules: when an edit is accepted and when refining stops.
        satisfied: ``feedback -> bool``, whether the critic found nothing to fix.
        extract: ``output -> answer`` for each version's ``answer``.
        human_review: ask a human (target ``review``) about each feedback before it is used.

    Raises:
        ValueError: a reviewer's answer is none of :data:`HUMAN_ANSWERS`.

    Example:
        >>> from ttc_plugins.prompts import critic_is_satisfied
        >>> from ttc_plugins.strategies.steps import drive
        >>> replies = {"draft": "Answer: 8", "edit": "Answer: 7"}
        >>> def respond(call):
        ...     if call.target == "score":
        ...         return call.payload["candidate"] == "Answer: 7"
        ...     if call.target == "critique":
        ...         return "NO ISSUES" if call.payload["draft"] == "Answer: 7" else "3 + 4 is 7."
        ...     return replies[call.target]
        >>> loop = refine_loop("What is 3 + 4?", question="What is 3 + 4?", rules=RefineRules(),
        ...                    satisfied=critic_is_satisfied)
        >>> result = drive(loop, respond)
        >>> result.output, result.stop_reason, result.chosen_candidate.lineage
        ('Answer: 7', 'converged', [(2, 0), (3, 0), (4, 0), (5, 0)])
    """
    tracker = RefineTracker(rules)
    log = RunLog(events=tracker.events)  # the tracker's events and the loop's own, in one order
    made_by: dict[int, _Lineage] = {}
    (drafted,) = yield log.step("generator", "draft", [user_input])
    if isinstance(drafted, BaseException):
        raise drafted  # nothing to refine and nothing to return
    drafted_by = (log.last, 0)
    first, scored_by = yield from _version(log, question, 0, drafted, extract)
    made_by[0] = [drafted_by, scored_by]
    tracker.add_draft(first)
    if first.budget_refused:
        tracker.stop_for_budget()
    while tracker.start_round():
        best = tracker.best
        (critique,) = yield log.step("critic", "critique", [{"question": question, "draft": best.output}])
        lineage = [(log.last, 0)]
        if stops_the_run(critique):
            tracker.stop_for_budget()
            break
        index = len(tracker.versions)
        if isinstance(critique, BaseException):
            made_by[index] = lineage
            tracker.consider_edit(_failed(index, "critique", critique))
            continue
        feedback = output_text(critique)
        log.event("critique", round=tracker.rounds, critique=feedback)
        if satisfied(feedback):
            made_by[best.index].extend(lineage)  # the critic's verdict on the winner
            tracker.critic_satisfied()
            break
        if human_review:
            reviewed = yield from _reviewed(log, tracker, question, feedback)
            lineage.append((log.last, 0))
            if reviewed is None:
                break
            feedback = reviewed
        edit = {"question": question, "draft": best.output, "feedback": feedback}
        (edited,) = yield log.step("editor", "edit", [edit])
        lineage.append((log.last, 0))
        if stops_the_run(edited):
            tracker.stop_for_budget()
            break
        if isinstance(edited, BaseException):
            made_by[index] = lineage
            tracker.consider_edit(_failed(index, "edit", edited))
            continue
        version, scored_by = yield from _version(log, question, index, edited, extract)
        made_by[index] = [*lineage, scored_by]
        tracker.consider_edit(version)
        if version.budget_refused:
            tracker.stop_for_budget()
    result = tracker.result()
    for candidate in result.candidates:
        candidate.lineage = made_by.get(candidate.index, [])
    return result
