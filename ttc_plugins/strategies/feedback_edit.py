"""Dedicated feedback and edit models: the family's stages and decisions, once, for every shell.

Three roles that may be three different models — a drafter, a feedback model that writes specific,
actionable feedback, and an edit model that rewrites a draft given one feedback — plus a judge.
Width scales each stage: ``drafts`` responses, ``feedbacks`` per draft, ``edits`` per feedback; every
draft and edit is judged and the best-scored one returned, so a bad edit can never beat its own draft.

Stops: ``"done"`` once everything is judged; ``"budget"`` when the budget refuses a call that stops
the run (``stops_the_run``): no later stage is asked for, and what was paid for is judged. When the
judging itself is refused, the first paid-for version is returned unverified (``scored_result``).

The calls it asks for (targets and payloads), which each shell binds to its own framework:

============  ========  =====================================  =============
target        role      payload                                reply
============  ========  =====================================  =============
``draft``     drafter   the user's input                       a response
``feedback``  feedback  ``{"question", "draft"}``              feedback text
``edit``      editor    ``{"question", "draft", "feedback"}``  a rewrite
``score``     judge     ``{"question", "candidate"}``          a verdict
============  ========  =====================================  =============

``draft`` is a draft's output object, which each shell renders its own way (text in LangChain, fenced
fields in DSPy). Events, in order: a ``draft`` per draft, a ``feedback`` (or ``feedback_failed``) per
feedback call, an ``edit`` per edit. Each version's ``lineage`` names the calls that made it: a draft's
call and its judging; an edit's feedback, its own edit call and its judging (not the draft it
rewrote, which has a lineage of its own).

Example:
    >>> from ttc_plugins.strategies.steps import drive
    >>> texts = {"draft": "A haiku about rain", "feedback": "Make it about snow.", "edit": "A haiku about snow"}
    >>> def respond(call):
    ...     return "snow" in call.payload["candidate"] if call.target == "score" else texts[call.target]
    >>> loop = feedback_edit_loop("Write a haiku.", question="Write a haiku.", drafts=1, feedbacks=1, edits=1)
    >>> result = drive(loop, respond)
    >>> result.output, result.stop_reason, result.chosen_candidate.lineage
    ('A haiku about snow', 'done', [(1, 0), (2, 0), (3, 1)])
"""

from __future__ import annotations

from typing import Any

from ttc_plugins.results import Candidate
from ttc_plugins.strategies.candidates import (
    AnswerExtractor,
    apply_verdict,
    make_candidates,
    output_text,
    scored_result,
    stops_the_run,
)
from ttc_plugins.strategies.options import check_samples_fit
from ttc_plugins.strategies.steps import FamilyLoop, RunLog

__all__ = ["ROLES", "feedback_edit_loop"]

ROLES = ("drafter", "feedback", "editor", "judge")
"""The budget roles of feedback + edit's steps (a LangGraph step graph has a node for each)."""


def feedback_edit_loop(
    user_input: Any,
    *,
    question: str,
    drafts: int,
    feedbacks: int,
    edits: int,
    extract: AnswerExtractor | None = None,
) -> FamilyLoop:
    """Feedback + edit's decisions as a step generator (see the module docstring).

    The factories check the widths when a strategy is built; what depends on the budget is checked
    here, before the first call: the drafts are drawn all at once, so they must fit its ``max_calls``.

    Args:
        user_input: what ``draft`` is given (the wrapped chain's input, a DSPy module's inputs).
        question: the question text for the feedback, edit and judge calls.
        drafts / feedbacks / edits: the width of each stage.
        extract: ``output -> answer`` for each version's ``answer``.

    Raises:
        ValueError: ``drafts`` above the budget's ``max_calls``.
        AllCandidatesFailed: no version could be drafted and judged (with the first failure).
        BudgetExceeded: the budget could not pay for even one draft.
    """
    check_samples_fit(drafts, name="drafts")
    log = RunLog()
    drafted = yield log.step("drafter", "draft", [user_input] * drafts)
    versions = make_candidates(drafted, start=0, extract=extract)
    made_by = {draft.index: [(log.last, draft.index)] for draft in versions}
    for draft in versions:
        log.event("draft", index=draft.index)
    refused = any(c.budget_refused for c in versions)
    asked = [draft for draft in versions if draft.ok for _ in range(feedbacks)]
    if asked and not refused:
        replies = yield log.step("feedback", "feedback", [{"question": question, "draft": d.output} for d in asked])
        tasks: list[tuple[Candidate, str, tuple[int, int]]] = []  # (draft, feedback, the feedback's call)
        for position, (draft, reply) in enumerate(zip(asked, replies, strict=True)):
            if isinstance(reply, BaseException):
                refused = refused or stops_the_run(reply)
                log.event("feedback_failed", draft=draft.index, error=repr(reply))
                continue
            feedback = output_text(reply)
            log.event("feedback", draft=draft.index, feedback=feedback)
            tasks += [(draft, feedback, (log.last, position))] * edits
        if tasks and not refused:
            payloads = [{"question": question, "draft": d.output, "feedback": f} for d, f, _ in tasks]
            edited = yield log.step("editor", "edit", payloads)
            fresh = make_candidates(edited, start=len(versions), extract=extract)
            for position, ((draft, feedback, feedback_call), version) in enumerate(zip(tasks, fresh, strict=True)):
                log.event("edit", index=version.index, draft=draft.index, feedback=feedback)
                made_by[version.index] = [feedback_call, (log.last, position)]
                versions.append(version)
    pending = [c for c in versions if c.ok]
    if pending:
        verdicts = yield log.step("judge", "score", [{"question": question, "candidate": c.output} for c in pending])
        judged = {}
        for position, (candidate, verdict) in enumerate(zip(pending, verdicts, strict=True)):
            judged[candidate.index] = apply_verdict(candidate, verdict)
            made_by[candidate.index].append((log.last, position))
        versions = [judged.get(c.index, c) for c in versions]
    stop = "budget" if refused or any(c.budget_refused for c in versions) else "done"
    result = scored_result(versions, stop_reason=stop, events=log.events)
    for candidate in result.candidates:
        candidate.lineage = made_by.get(candidate.index, [])
    return result
