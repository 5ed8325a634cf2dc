"""Feedback + edit's decisions, checked once through the library's test double (`drive`), with no framework."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from tests.strategies.stepping import progress_of, recorded, refusal_by
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, budget_scope, current_role
from ttc_plugins.strategies.feedback_edit import ROLES, feedback_edit_loop
from ttc_plugins.strategies.steps import drive


class Script:
    """Numbered drafts, feedbacks and edits (edits much longer), scored by length; counts every call.

    ``fail`` maps a target to ``{n: reply}``: the reply its n-th call (from 1) gets instead.
    """

    def __init__(self, *, score=None, fail=None):
        self.numbers = {target: itertools.count() for target in ("draft", "feedback", "edit")}
        self.score = score or (lambda text: min(len(text) / 40, 1.0))
        self.fail = fail or {}
        self.calls: Counter[str] = Counter()
        self.payloads: dict[str, list] = {}
        self.roles: dict[str, set[str]] = {}

    def __call__(self, call):
        self.calls[call.target] += 1
        self.payloads.setdefault(call.target, []).append(call.payload)
        self.roles.setdefault(call.target, set()).add(current_role())
        failures = self.fail.get(call.target, {})
        if self.calls[call.target] in failures:
            return failures[self.calls[call.target]]
        if call.target == "score":
            return self.score(call.payload["candidate"])
        number = next(self.numbers[call.target])
        return {"draft": "draft {}", "feedback": "feedback {}", "edit": "a much longer edited version {}"}[
            call.target
        ].format(number)


def _run(script, *, steps=None, drafts=2, feedbacks=2, edits=2):
    loop = feedback_edit_loop("Write.", question="Write.", drafts=drafts, feedbacks=feedbacks, edits=edits)
    return drive(recorded(loop, steps) if steps is not None else loop, script)


def test_every_stage_runs_at_its_width_on_its_own_drafts_feedback_and_the_best_judged_version_wins():
    script = Script()
    result = _run(script, drafts=2, feedbacks=3, edits=2)
    assert script.calls == {"draft": 2, "feedback": 6, "edit": 12, "score": 14}
    assert script.roles == {"draft": {"drafter"}, "feedback": {"feedback"}, "edit": {"editor"}, "score": {"judge"}}
    assert set(ROLES) == {role for roles in script.roles.values() for role in roles}
    assert [p["draft"] for p in script.payloads["feedback"]] == ["draft 0"] * 3 + ["draft 1"] * 3
    assert script.payloads["edit"][2] == {"question": "Write.", "draft": "draft 0", "feedback": "feedback 1"}
    edits = [(e.data["index"], e.data["draft"], e.data["feedback"]) for e in result.events if e.kind == "edit"]
    assert edits[:3] == [(2, 0, "feedback 0"), (3, 0, "feedback 0"), (4, 0, "feedback 1")]
    assert [e.kind for e in result.events] == ["draft"] * 2 + ["feedback"] * 6 + ["edit"] * 12
    assert (result.output, result.chosen, result.stop_reason) == ("a much longer edited version 10", 12, "done")


def test_a_draft_better_than_all_its_edits_wins():
    result = _run(Script(score=lambda text: 1.0 if text.startswith("draft") else 0.2), drafts=1, feedbacks=1, edits=2)
    assert (result.output, result.chosen) == ("draft 0", 0)


def test_lineage_names_a_drafts_call_and_judging_and_an_edits_feedback_edit_and_judging():
    steps = []
    result = _run(Script(), steps=steps, drafts=2, feedbacks=1, edits=2)
    # steps: 0 drafts (2), 1 feedbacks (2), 2 edits (4), 3 judging (6)
    assert [step.calls[0].target for step in steps] == ["draft", "feedback", "edit", "score"]
    assert [c.lineage for c in result.candidates] == [
        [(0, 0), (3, 0)], [(0, 1), (3, 1)],
        [(1, 0), (2, 0), (3, 2)], [(1, 0), (2, 1), (3, 3)], [(1, 1), (2, 2), (3, 4)], [(1, 1), (2, 3), (3, 5)],
    ]  # fmt: skip


def test_each_step_carries_the_events_since_the_last_and_they_begin_the_results_events():
    steps = []
    result = _run(Script(), steps=steps, drafts=1, feedbacks=1, edits=1)
    progress = progress_of(steps)
    assert [e.kind for e in progress] == ["draft", "feedback", "edit"]
    assert progress == result.events[: len(progress)]


def test_a_failed_feedback_is_recorded_and_the_others_go_on_to_their_edits():
    script = Script(fail={"feedback": {1: RuntimeError("feedback model down")}})
    result = _run(script, drafts=2, feedbacks=1, edits=1)
    assert [e.kind for e in result.events] == ["draft", "draft", "feedback_failed", "feedback", "edit"]
    assert "feedback model down" in result.events[2].data["error"]
    assert (script.calls["edit"], result.stop_reason) == (1, "done")


def _refusal() -> BudgetExceeded:
    return refusal_by(Budget(max_calls=1))


@pytest.mark.parametrize(
    ("fail", "calls", "output"),
    [
        # A refused draft: no feedback at all; what was drafted is judged.
        ({"draft": {1}}, {"draft": 2, "score": 1}, "draft 0"),
        # A refused feedback: no edits; the drafts are judged.
        ({"feedback": {2}}, {"draft": 2, "feedback": 2, "score": 2}, "draft 0"),
        # A refused edit: the others and the drafts are judged.
        ({"edit": {2}}, {"draft": 2, "feedback": 2, "edit": 2, "score": 3}, "a much longer edited version 0"),
    ],
)
def test_a_refusal_by_the_runs_budget_stops_the_next_stages_and_the_best_paid_for_version_wins(fail, calls, output):
    run = Budget(max_calls=5)  # the drafts must fit its max_calls; other work has used it up
    refusal = refusal_by(run)
    fail = {target: dict.fromkeys(at, refusal) for target, at in fail.items()}
    script = Script(fail=fail)
    with budget_scope(run):
        result = _run(script, drafts=2, feedbacks=1, edits=1)
    assert (result.stop_reason, result.output, script.calls) == ("budget", output, calls)


def test_a_refusal_by_a_budget_made_inside_a_call_fails_that_call_only():
    run = Budget()
    tool_cap = refusal_by(run.child(max_calls=1))
    script = Script(fail={"feedback": {1: tool_cap}})
    with budget_scope(run):
        result = _run(script, drafts=2, feedbacks=1, edits=1)
    assert [e.kind for e in result.events].count("feedback_failed") == 1
    assert (result.stop_reason, script.calls["edit"]) == ("done", 1)


def test_when_the_judging_is_refused_the_first_paid_for_version_is_returned_unverified():
    script = Script(score=lambda text: _refusal())
    result = _run(script, drafts=1, feedbacks=1, edits=1)
    assert (result.output, result.stop_reason, result.events[-1].kind) == ("draft 0", "budget", "unverified_choice")


def test_a_refused_judging_of_some_versions_keeps_the_best_judged_one_and_stops_for_the_budget():
    script = Script(score=lambda text: _refusal() if "edited" in text else 0.3)
    result = _run(script, drafts=1, feedbacks=1, edits=2)
    assert (result.output, result.stop_reason) == ("draft 0", "budget")
    assert [c.budget_refused for c in result.candidates] == [False, True, True]


def test_more_drafts_than_the_budgets_max_calls_are_refused_before_any_call():
    script = Script()
    with budget_scope(Budget(max_calls=2)), pytest.raises(ValueError, match="drafts=3 samples can never fit"):
        _run(script, drafts=3)
    assert script.calls == {}


def test_nothing_judgeable_raises_with_the_first_failure():
    with pytest.raises(AllCandidatesFailed, match="verification failed: verifier returned str"):
        _run(Script(score=lambda text: "great!"), drafts=1, feedbacks=1, edits=1)
