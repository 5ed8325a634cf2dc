"""Turn raw sample outputs into :class:`Candidate` objects, and candidates into a :class:`TTCResult`.

Every shell (LangChain, LangGraph, DSPy) samples in its own way and then hands the outputs here, so
answer extraction, failure handling and selection behave the same whichever framework ran them.

Example:
    >>> cands = make_candidates(["... Answer: 4", ValueError("timeout"), "Answer: 5", "so 4"], start=0)
    >>> [(c.answer, c.error) for c in cands]
    [('4', None), (None, 'ValueError: timeout'), ('5', None), ('4', None)]
    >>> result = voted_result(cands, stop_reason="done")
    >>> result.answer, result.chosen, [c.votes for c in result.candidates]
    ('4', 0, [2, 0, 1, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ttc_plugins.answers import AnswerMatcher, extract_answer, same_answer
from ttc_plugins.budget import BudgetExceeded, current_budget
from ttc_plugins.results import (
    AllCandidatesFailed,
    Candidate,
    InvalidVerdict,
    StopReason,
    TTCEvent,
    TTCResult,
    parse_verdict,
)
from ttc_plugins.strategies.select import best_by_score, first_above, majority_vote, weighted_vote

__all__ = [
    "AnswerExtractor",
    "MeteredOutput",
    "apply_verdict",
    "make_candidates",
    "output_text",
    "scored_result",
    "stops_the_run",
    "voted_result",
]

AnswerExtractor = Callable[[Any], "str | None"]


def _message_text(item: Any) -> str | None:
    """The text of ``item`` if it is a chat message (an object with ``content``, a role/content mapping
    or a ``(role, text)`` pair), else None."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], str):
        return item[1]
    if isinstance(item, Mapping):
        return output_text(item) if "role" in item and "content" in item else None
    content = getattr(item, "content", None)
    return output_text(item) if isinstance(content, str | list) else None


def output_text(output: Any) -> str:
    """The text of a sample's output: a string, a chat message's content, or a mapping's text field.

    A list (or tuple) is read as text too, never as its Python repr (which would put ``4']`` to the
    vote): a list of chat messages, a conversation, is its last message's text; any other list is its
    items' texts, one per line, as a model's multi-part content is read. A mapping with no text field
    but a ``messages`` list (a LangGraph ``MessagesState``) is its last message's text.

    Example:
        >>> output_text({"answer": "42"}), output_text(["Answer: 4"]), output_text(["a", "b"])
        ('42', 'Answer: 4', 'a\\nb')
        >>> output_text([("user", "What is 2 + 2?"), ("ai", "Answer: 4")])
        'Answer: 4'
    """
    if isinstance(output, str):
        return output
    if isinstance(output, list | tuple):
        if not output:
            return ""
        last = _message_text(output[-1])
        if last is not None and all(_message_text(item) is not None for item in output):
            return last
        return "\n".join(output_text(item) for item in output)
    content = getattr(output, "content", None)  # LangChain messages
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p if isinstance(p, str) else str(p.get("text", "")) for p in content if isinstance(p, str | dict)
        )
    if not isinstance(output, Mapping) and callable(getattr(output, "toDict", None)):
        output = output.toDict()  # a dspy.Prediction: read its fields, not its repr
    if isinstance(output, Mapping):
        for key in ("answer", "output", "text", "content", "result"):
            if isinstance(output.get(key), str):
                return output[key]
        texts = [value for value in output.values() if isinstance(value, str)]
        if texts:
            return texts[-1]
        if isinstance(output.get("messages"), list):
            return output_text(output["messages"])
    return str(output)


def _default_extract(output: Any) -> str | None:
    return extract_answer(output_text(output))


@dataclass(frozen=True)
class MeteredOutput:
    """A sample's output with what that sample alone cost, counted in its own child budget.

    A shell that runs each sample in its own budget wraps the output in this, so the candidate gets
    its exact tokens even when the output is plain text (a chain that ends in a parser reports none).
    """

    output: Any
    input_tokens: int
    output_tokens: int


def _usage(output: Any) -> tuple[int, int]:
    usage = getattr(output, "usage_metadata", None)
    if isinstance(usage, Mapping):
        return int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)
    return 0, 0


def stops_the_run(error: BaseException) -> bool:
    """Whether a call's failure is the run's budget running out (stop, return the best so far), rather
    than a failure of that call alone.

    A refusal stops the run when the refusing budget is the one the run is charged to or one it runs
    under (the caller's). A refusal by a budget made inside the call — a tool's own capped child
    budget — fails that call only. Decided against the budget current where candidates are made
    (the run's, inside a strategy); where none is current, every refusal stops the run.

    Example:
        >>> from ttc_plugins import Budget, budget_scope
        >>> run = Budget()
        >>> tool_cap = run.child(max_calls=1)
        >>> tool_cap.reserve(1, 1).commit(1, 1)
        >>> try:
        ...     tool_cap.reserve(1, 1)
        ... except BudgetExceeded as refusal:
        ...     with budget_scope(run):
        ...         stops_the_run(refusal)
        False
    """
    if not isinstance(error, BudgetExceeded):
        return False
    scope = current_budget()
    if error.budget is None or scope is None:
        return True
    return scope.is_within(error.budget)


def _is_empty(output: Any) -> bool:
    """Whether an output is text (a string or a chat message) with nothing but whitespace in it."""
    if isinstance(output, str):
        return not output.strip()
    content = getattr(output, "content", None)
    if isinstance(content, str | list) and not getattr(output, "tool_calls", None):
        return not output_text(output).strip()
    return False


def make_candidates(outputs: Sequence[Any], *, start: int, extract: AnswerExtractor | None = None) -> list[Candidate]:
    """One candidate per output; an exception becomes a failed candidate (kept, marked, never voted).

    Args:
        outputs: sample outputs, or the exceptions raised instead (as ``batch(return_exceptions=True)``
            gives them).
        start: the index of the first of these candidates in the whole run.
        extract: ``output -> answer``; by default the final answer is extracted from the output's text.
    """
    extract = extract or _default_extract
    candidates = []
    for offset, output in enumerate(outputs):
        index = start + offset
        metered = output if isinstance(output, MeteredOutput) else None
        if metered is not None:
            output = metered.output
        if isinstance(output, BaseException):
            failed = Candidate(
                index=index,
                error=f"{type(output).__name__}: {output}",
                budget_refused=stops_the_run(output),
            )
            failed._exception = output
            candidates.append(failed)
            continue
        if _is_empty(output):
            # A reply with no text at all (a stream that delivered nothing, a server under load) is a
            # failed call, not an answer: it is shown as such and never voted on, scored or refined.
            candidates.append(Candidate(index=index, output=output, error="empty output: the reply has no text"))
            continue
        try:
            answer = extract(output)
        except Exception as error:  # a user's extractor failing on one output fails that candidate only
            candidates.append(Candidate(index=index, output=output, error=f"answer extraction failed: {error!r}"))
            continue
        input_tokens, output_tokens = (
            (metered.input_tokens, metered.output_tokens) if metered is not None else _usage(output)
        )
        candidates.append(
            Candidate(
                index=index,
                output=output,
                answer=answer,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
        )
    return candidates


def apply_verdict(candidate: Candidate, reply: Any, *, step: str = "verification") -> Candidate:
    """The candidate with a verifier's ``reply`` applied: a verdict and score, or a marked failure.

    A budget refusal marks it ``budget_refused`` (keeping the exception); an exception or a reply
    that is no verdict becomes its ``error`` ("<step> refused: ..." / "<step> failed: ..."), which
    leaves it out of any selection. Every shell applies verdicts through this one function.

    Example:
        >>> apply_verdict(Candidate(index=0, output="4"), 0.5).score
        0.5
        >>> apply_verdict(Candidate(index=0, output="4"), "great!").error
        "verification failed: verifier returned str, not a Verdict, bool, number or mapping: 'great!'"
    """
    if isinstance(reply, BudgetExceeded) and stops_the_run(reply):
        refused = candidate.model_copy(update={"error": f"{step} refused: {reply}", "budget_refused": True})
        refused._exception = reply
        return refused
    if isinstance(reply, BaseException):
        failed = candidate.model_copy(update={"error": f"{step} failed: {type(reply).__name__}: {reply}"})
        failed._exception = reply
        return failed
    try:
        verdict = parse_verdict(reply)
    except InvalidVerdict as invalid:
        return candidate.model_copy(update={"error": f"{step} failed: {invalid}"})
    return candidate.model_copy(update={"verdict": verdict, "score": verdict.score})


def _raise_if_nothing_to_return(candidates: Sequence[Candidate]) -> list[Candidate]:
    usable = [c for c in candidates if c.ok]
    if usable:
        return usable
    failures = [c for c in candidates if not c.ok]
    if failures and all(c.budget_refused for c in failures) and failures[0].exception is not None:
        # Not even one sample was affordable: the budget's own refusal says which limit and by how much.
        raise failures[0].exception
    first = failures[0].error if failures else "no candidates were sampled"
    cause = failures[0].exception if failures else None
    raise AllCandidatesFailed(
        f"all {len(candidates)} candidates failed; the first failure: {first}", candidates=candidates
    ) from cause


def voted_result(
    candidates: Sequence[Candidate],
    *,
    stop_reason: StopReason,
    same: AnswerMatcher = same_answer,
    weighted: bool = False,
    events: Sequence[TTCEvent] = (),
) -> TTCResult:
    """Choose by majority vote (or by summed score when ``weighted``) and explain the choice.

    Raises:
        AllCandidatesFailed: every candidate errored (the message includes the first failure).
        BudgetExceeded: the budget refused every sample.
    """
    usable = _raise_if_nothing_to_return(candidates)
    answers = [c.answer if c.ok else None for c in candidates]
    if weighted:
        vote = weighted_vote(answers, [c.score if c.ok else None for c in candidates], same=same)
    else:
        vote = majority_vote(answers, same=same)
    if vote is None:
        # Outputs without an extractable answer cannot be voted on: return the first one, unvoted.
        chosen = usable[0]
        events = [*events, TTCEvent(kind="no_answer_to_vote_on", data={"chosen": chosen.index})]
        return TTCResult(
            output=chosen.output, answer=None, candidates=list(candidates), chosen=chosen.index,
            stop_reason=stop_reason, events=list(events),
        )  # fmt: skip
    # Each candidate's votes: how many candidates (itself included) gave an equivalent answer.
    group_size = {position: len(group) for group in vote.groups for position in group}
    voted = [c.model_copy(update={"votes": group_size.get(i, 0)}) for i, c in enumerate(candidates)]
    winner = candidates[vote.winner]
    events = [
        *events,
        TTCEvent(kind="vote", data={"answer": vote.answer, "weight": vote.weight, "groups": vote.groups}),
    ]
    return TTCResult(
        output=winner.output, answer=winner.answer, candidates=voted, chosen=winner.index,
        stop_reason=stop_reason, events=list(events),
    )  # fmt: skip


def scored_result(
    candidates: Sequence[Candidate],
    *,
    stop_reason: StopReason,
    threshold: float | None = None,
    events: Sequence[TTCEvent] = (),
) -> TTCResult:
    """Choose the highest-scored candidate (best-of-N); candidates without a score take no part.

    With ``threshold``, the first candidate scored at least that high is chosen (as "stop at the first
    good enough" promises), and the best one only when none reached it.

    When nothing could be scored because the budget refused the scoring, the run still returns what
    it paid for: the first candidate with an output, unverified, with stop reason ``"budget"`` and an
    ``unverified_choice`` event. ``BudgetExceeded`` is raised only when no output at all was paid for.

    Example:
        >>> refused = Candidate(index=0, output="4", answer="4", error="scoring refused: ...", budget_refused=True)
        >>> result = scored_result([refused], stop_reason="done")
        >>> result.output, result.stop_reason, result.events[-1].kind
        ('4', 'budget', 'unverified_choice')
    """
    scores = [c.score if c.ok else None for c in candidates]
    best = first_above(scores, threshold) if threshold is not None else None
    if best is None:
        best = best_by_score(scores)
    if best is None:
        unverified = next((c for c in candidates if c.budget_refused and c.output is not None), None)
        if unverified is not None:
            why = TTCEvent(kind="unverified_choice", data={"index": unverified.index, "reason": unverified.error})
            return TTCResult(
                output=unverified.output, answer=unverified.answer, candidates=list(candidates),
                chosen=unverified.index, stop_reason="budget", events=[*events, why],
            )  # fmt: skip
        _raise_if_nothing_to_return(candidates)
        failures = [c for c in candidates if c.error]
        refused = [c for c in failures if c.budget_refused and c.exception is not None]
        if refused and len(refused) == len([c for c in failures if c.output is not None]):
            raise refused[0].exception  # the budget could pay for no verification at all: say which limit
        first_failure = failures[0].error if failures else "no candidate was scored"
        raise AllCandidatesFailed(
            f"no candidate could be verified; the first failure: {first_failure}", candidates=candidates
        )
    winner = candidates[best]
    return TTCResult(
        output=winner.output, answer=winner.answer, candidates=list(candidates), chosen=winner.index,
        stop_reason=stop_reason, events=list(events),
    )  # fmt: skip
