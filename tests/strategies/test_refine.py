from collections import Counter

import pytest

from tests.strategies.stepping import progress_of, recorded, refusal_by
from ttc_plugins import Budget, Candidate, budget_scope, current_role
from ttc_plugins.prompts import critic_is_satisfied
from ttc_plugins.strategies.refine import (
    ROLES,
    RefineRules,
    RefineTracker,
    human_decision,
    preference_pair,
    refine_loop,
)
from ttc_plugins.strategies.steps import drive


def _v(index, score, output=None, **fields):
    return Candidate(index=index, output=output or f"v{index}", answer=str(index), score=score, **fields)


def _run(rules, draft_score, edit_scores, satisfied_at=None):
    """Drive a tracker the way the shells do; returns the tracker."""
    tracker = RefineTracker(rules)
    tracker.add_draft(_v(0, draft_score))
    edits = iter(edit_scores)
    while tracker.start_round():
        if satisfied_at == tracker.rounds:
            tracker.critic_satisfied()
            break
        tracker.consider_edit(_v(len(tracker.versions), next(edits)))
    return tracker


def test_an_edit_that_scores_lower_is_rejected_and_the_best_version_is_returned():
    tracker = _run(RefineRules(max_rounds=3, patience=None), 0.7, [0.9, 0.4, 0.5])
    result = tracker.result()
    assert (result.chosen, result.output, result.stop_reason) == (1, "v1", "done")
    assert [e.kind for e in result.events if e.kind.startswith("edit")] == [
        "edit_accepted",
        "edit_rejected",
        "edit_rejected",
    ]
    assert [c.index for c in result.candidates] == [0, 1, 2, 3]


@pytest.mark.parametrize(("accept", "chosen"), [("not_lower", 1), ("higher", 0)])
def test_an_equal_score_is_accepted_only_under_not_lower(accept, chosen):
    tracker = _run(RefineRules(max_rounds=1, accept=accept), 0.5, [0.5])
    assert tracker.result().chosen == chosen


@pytest.mark.parametrize(
    ("rules", "draft", "edits", "satisfied_at", "rule", "reason", "rounds"),
    [
        (RefineRules(max_rounds=5), 0.5, [0.6, 0.7], 3, "critic_satisfied", "converged", 3),
        (RefineRules(max_rounds=5, threshold=0.8), 0.5, [0.6, 0.85, 0.9], None, "threshold", "threshold", 2),
        (RefineRules(max_rounds=5, threshold=0.4), 0.5, [], None, "threshold", "threshold", 0),
        (RefineRules(max_rounds=9, patience=2), 0.5, [0.6, 0.1, 0.2, 0.9], None, "patience", "converged", 3),
        (RefineRules(max_rounds=2, patience=None), 0.5, [0.1, 0.2], None, "max_rounds", "done", 2),
        (RefineRules(max_rounds=0), 0.5, [], None, "max_rounds", "done", 0),
    ],
)
def test_each_stop_rule_fires_for_its_own_reason(rules, draft, edits, satisfied_at, rule, reason, rounds):
    tracker = _run(rules, draft, edits, satisfied_at)
    assert (tracker.stop_rule, tracker.stop_reason, tracker.rounds) == (rule, reason, rounds)
    assert tracker.result().events[-1].data == {"rule": rule, "rounds": rounds}


def test_a_budget_stop_keeps_the_best_so_far():
    tracker = RefineTracker(RefineRules(max_rounds=5))
    tracker.add_draft(_v(0, 0.3))
    assert tracker.start_round()
    tracker.consider_edit(_v(1, 0.6))
    tracker.stop_for_budget()
    assert not tracker.start_round()
    result = tracker.result()
    assert (result.stop_reason, result.chosen) == ("budget", 1)


def test_failed_or_unscored_edits_are_rejected_and_an_unscored_draft_loses_to_any_score():
    tracker = RefineTracker(RefineRules(max_rounds=3, patience=None))
    tracker.add_draft(_v(0, None))
    tracker.start_round()
    assert not tracker.consider_edit(Candidate(index=1, error="RuntimeError: editor down"))
    tracker.start_round()
    assert not tracker.consider_edit(_v(2, None))
    tracker.start_round()
    assert tracker.consider_edit(_v(3, 0.0))
    assert tracker.best.index == 3


def test_the_tracker_insists_on_its_order_of_calls():
    tracker = RefineTracker(RefineRules())
    with pytest.raises(RuntimeError, match="add_draft"):
        tracker.start_round()
    tracker.add_draft(_v(0, 0.1))
    with pytest.raises(RuntimeError, match="once per run"):
        tracker.add_draft(_v(1, 0.1))


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_rounds": -1}, "max_rounds"), ({"accept": "maybe"}, "accept"), ({"patience": 0}, "patience"),
     ({"threshold": 1.2}, "threshold")],
)  # fmt: skip
def test_bad_rules_are_rejected(options, field):
    with pytest.raises(ValueError, match=field):
        RefineRules(**options)


@pytest.mark.parametrize(
    ("scores", "pair"),
    [
        ([0.4, 0.9, 0.1, 0.9], (1, 2)),
        ([0.2, 0.2, 0.5, 0.2], (2, 3)),
        ([0.5, None], None),
        ([0.5, 0.5], None),
        ([], None),
    ],
)
def test_preference_pair_is_the_max_and_min_scored(scores, pair):
    found = preference_pair([Candidate(index=i, score=s) for i, s in enumerate(scores)])
    assert (None if found is None else (found[0].index, found[1].index)) == pair


# The core, refine_loop, through drive: every decision of a run, with a plain respond(call).


class Script:
    """Answers refine's calls from queues (one per target) and scores "Answer: 7" right; counts every call."""

    def __init__(self, *, drafts=("Answer: 8",), critiques=(), edits=(), reviews=(), score=None):
        self.queues = {"draft": iter(drafts), "critique": iter(critiques), "edit": iter(edits), "review": iter(reviews)}
        self.score = score or (lambda output: output == "Answer: 7")
        self.calls: Counter[str] = Counter()
        self.payloads: dict[str, list] = {}
        self.roles: dict[str, set[str]] = {}

    def __call__(self, call):
        self.calls[call.target] += 1
        self.payloads.setdefault(call.target, []).append(call.payload)
        self.roles.setdefault(call.target, set()).add(current_role())
        if call.target == "score":
            return self.score(call.payload["candidate"])
        return next(self.queues[call.target])


def _refine(script, *, steps=None, human_review=False, **rules):
    loop = refine_loop("What is 3 + 4?", question="What is 3 + 4?", rules=RefineRules(**rules),
                       satisfied=critic_is_satisfied, human_review=human_review)  # fmt: skip
    return drive(recorded(loop, steps) if steps is not None else loop, script)


def _kinds(result, *kinds):
    return [e.kind for e in result.events if e.kind in kinds]


def test_a_better_edit_wins_and_the_critic_ends_the_run_with_each_call_charged_to_its_role():
    script = Script(critiques=["3 + 4 is 7.", "NO ISSUES"], edits=["Answer: 7"])
    result = _refine(script)
    assert (result.output, result.chosen, result.stop_reason) == ("Answer: 7", 1, "converged")
    assert script.calls == {"draft": 1, "score": 2, "critique": 2, "edit": 1}
    assert script.roles == {"draft": {"generator"}, "score": {"verifier"}, "critique": {"critic"},
                            "edit": {"editor"}}  # fmt: skip
    assert _kinds(result, "critique", "edit_accepted", "stop") == ["critique", "edit_accepted", "critique", "stop"]
    assert set(ROLES) >= {role for roles in script.roles.values() for role in roles}


def test_a_worse_edit_is_rejected_and_the_best_version_not_the_last_is_returned():
    script = Script(drafts=["Answer: 7"], critiques=["Maybe 8?"], edits=["Answer: 8"])
    result = _refine(script, patience=1)
    assert (result.output, result.chosen, result.stop_reason) == ("Answer: 7", 0, "converged")
    assert [(c.answer, c.score) for c in result.candidates] == [("7", 1.0), ("8", 0.0)]
    assert script.calls == {"draft": 1, "score": 2, "critique": 1, "edit": 1}


def test_the_critic_and_editor_get_the_best_versions_output_object_not_its_text():
    draft, edit = {"answer": "8", "why": "guess"}, {"answer": "7", "why": "3 + 4"}
    script = Script(drafts=[draft], critiques=["It is 7.", "Check once more."], edits=[edit, {"answer": "6"}],
                    score=lambda output: output["answer"] == "7")  # fmt: skip
    _refine(script, max_rounds=2, patience=None)
    assert [p["draft"] for p in script.payloads["critique"]] == [draft, edit]  # the accepted edit is the best
    assert script.payloads["edit"][1] == {"question": "What is 3 + 4?", "draft": edit, "feedback": "Check once more."}
    assert script.payloads["score"][0] == {"question": "What is 3 + 4?", "candidate": draft}


def test_a_failed_draft_is_raised():
    with pytest.raises(TimeoutError, match="drafter down"):
        _refine(Script(drafts=[TimeoutError("drafter down")]))


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (Script(critiques=[RuntimeError("down")] * 2), "critique failed: RuntimeError: down"),
        (Script(critiques=["no"] * 2, edits=[RuntimeError("down")] * 2), "edit failed: RuntimeError: down"),
    ],
)  # fmt: skip
def test_a_failed_critique_or_edit_costs_its_round_as_a_failed_version(script, error):
    result = _refine(script, max_rounds=5, patience=2)
    assert [c.error for c in result.candidates[1:]] == [error] * 2
    assert (result.output, result.stop_reason) == ("Answer: 8", "converged")
    assert _kinds(result, "edit_rejected") == ["edit_rejected"] * 2
    assert result.events[-1].data == {"rule": "patience", "rounds": 2}


@pytest.mark.parametrize(
    ("refused", "calls", "output"),
    [
        ("draft score", {"draft": 1, "score": 1}, "Answer: 8"),
        ("critique", {"draft": 1, "score": 1, "critique": 1}, "Answer: 8"),
        ("edit", {"draft": 1, "score": 1, "critique": 1, "edit": 1}, "Answer: 8"),
        ("edit score", {"draft": 1, "score": 2, "critique": 1, "edit": 1}, "Answer: 8"),
    ],
)
def test_a_refusal_by_the_runs_budget_stops_the_run_where_it_happens(refused, calls, output):
    run = Budget(max_calls=1)
    refusal = refusal_by(run)
    script = Script(critiques=[refusal if refused == "critique" else "It is 7."],
                    edits=[refusal if refused == "edit" else "Answer: 7"])  # fmt: skip
    if refused.endswith("score"):
        script.score = lambda output: refusal if (refused == "draft score") == (output == "Answer: 8") else 1.0
    with budget_scope(run):
        result = _refine(script, max_rounds=3)
    assert (result.stop_reason, result.output, script.calls) == ("budget", output, calls)
    assert result.events[-1].data["rule"] == "budget"
    refused_versions = [c.index for c in result.candidates if c.budget_refused]
    assert refused_versions == {"draft score": [0], "edit score": [1]}.get(refused, [])


def test_a_refusal_by_a_budget_made_inside_the_call_fails_that_call_only():
    run = Budget()
    tool_cap = refusal_by(run.child(max_calls=1))  # e.g. a tool's own capped child budget
    script = Script(critiques=[tool_cap, "It is 7.", "NO ISSUES"], edits=["Answer: 7"])
    with budget_scope(run):
        result = _refine(script, max_rounds=3)
    assert result.candidates[1].error.startswith("critique failed: BudgetExceeded")
    assert not result.candidates[1].budget_refused
    assert (result.output, result.stop_reason, script.calls["critique"]) == ("Answer: 7", "converged", 3)


def test_lineage_names_the_calls_that_made_each_version_and_the_critics_verdict_on_the_winner():
    script = Script(critiques=["It is 6.", "It is 7.", "NO ISSUES"], edits=[RuntimeError("editor down"), "Answer: 7"])
    steps = []
    result = _refine(script, steps=steps, max_rounds=3)
    # steps: 0 draft, 1 score, 2 critique, 3 edit (failed), 4 critique, 5 edit, 6 score, 7 critique
    assert [step.calls[0].target for step in steps] == ["draft", "score", "critique", "edit", "critique", "edit",
                                                       "score", "critique"]  # fmt: skip
    lineages = [c.lineage for c in result.candidates]
    assert lineages == [[(0, 0), (1, 0)], [(2, 0), (3, 0)], [(4, 0), (5, 0), (6, 0), (7, 0)]]


def test_each_step_carries_the_events_since_the_last_and_they_begin_the_results_events():
    steps = []
    result = _refine(Script(critiques=["It is 7.", "NO ISSUES"], edits=["Answer: 7"]), steps=steps)
    progress = progress_of(steps)
    assert progress == result.events[: len(progress)]
    assert [e.kind for e in progress] == ["draft", "round", "critique", "edit_accepted", "round"]
    assert [e.kind for e in result.events[len(progress) :]] == ["critique", "stop"]


@pytest.mark.parametrize(
    ("answer", "decision", "feedback"),
    [(True, "approve", "It is 7."), (None, "approve", "It is 7."), ("Add the units.", "replace", "Add the units.")],
)
def test_a_human_approves_or_replaces_the_feedback_before_the_edit(answer, decision, feedback):
    script = Script(critiques=["It is 7.", "NO ISSUES"], edits=["Answer: 7"], reviews=[answer])
    steps = []
    result = _refine(script, steps=steps, human_review=True)
    assert script.payloads["review"] == [{"question": "What is 3 + 4?", "draft": "Answer: 8", "feedback": "It is 7.",
                                          "round": 1}]  # fmt: skip
    assert script.payloads["edit"][0]["feedback"] == feedback
    human = [e.data for e in result.events if e.kind == "human_feedback"]
    assert human == [{"round": 1, "decision": decision, "feedback": feedback}]
    assert [step.role for step in steps][3] == "human"
    assert result.chosen_candidate.lineage[:3] == [(2, 0), (3, 0), (4, 0)]  # critique, review, edit
    assert script.calls["review"] == 1  # a satisfied critic is not reviewed


def test_a_human_who_stops_ends_the_run_as_a_satisfied_critic_would():
    script = Script(critiques=["It is 7."], reviews=[{"stop": True}])
    result = _refine(script, human_review=True)
    assert (result.output, result.stop_reason, script.calls["edit"]) == ("Answer: 8", "converged", 0)
    assert _kinds(result, "human_stop", "stop") == ["human_stop", "stop"]
    assert result.events[-1].data["rule"] == "critic_satisfied"


@pytest.mark.parametrize("answer", [False, "   ", {"stop": False}, 3])
def test_an_answer_a_human_review_does_not_allow_is_refused_naming_the_allowed_ones(answer):
    with pytest.raises(ValueError, match=r"True or None \(approve the feedback\)"):
        _refine(Script(critiques=["It is 7."], reviews=[answer]), human_review=True)
    assert human_decision(answer) is None
