"""TPO's decisions, checked once through the library's test double (`drive`), with no framework."""

from __future__ import annotations

from collections import Counter

import pytest

from ttc_plugins import Budget, BudgetExceeded, current_role
from ttc_plugins.strategies.steps import Call, Step, drive
from ttc_plugins.strategies.tpo import round_best_scores, tpo_loop

REFUSED = BudgetExceeded("max_calls=1 would be exceeded", limit="max_calls", maximum=1, used=1, requested=1)


class Script:
    """Answers TPO's calls: drafts and updates in turn, scores by length, fixed loss and gradient texts."""

    def __init__(self, drafts, updates=(), *, loss="longer is better", gradient="write more", scores=None):
        self.drafts, self.updates = iter(drafts), iter(updates)
        self.texts = {"loss": loss, "gradient": gradient}
        self.scores = scores or (lambda text: min(len(text) / 30, 1.0))
        self.calls: Counter[str] = Counter()
        self.roles: dict[str, set[str]] = {}

    def __call__(self, call: Call):
        self.calls[call.target] += 1
        self.roles.setdefault(call.target, set()).add(current_role())
        reply = {
            "generate": lambda: next(self.drafts),
            "update": lambda: next(self.updates),
            "score": lambda: self.scores(call.payload["candidate"]),
        }.get(call.target, lambda: self.texts[call.target])()
        if isinstance(reply, BaseException):
            raise reply
        return reply


def _run(script: Script, *, samples: int = 2, rounds: int = 1):
    return drive(tpo_loop("q", question="q", samples=samples, rounds=rounds), script)


def test_a_round_rewrites_from_the_preference_and_the_best_of_all_rounds_wins():
    script = Script(["short", "a bit longer"], ["the longest answer of all", "mid length one"])
    result = _run(script)
    assert (result.output, result.stop_reason) == ("the longest answer of all", "done")
    assert round_best_scores(result) == [0.4, 0.8333333333333334]
    assert script.calls == {"generate": 2, "score": 4, "loss": 1, "gradient": 1, "update": 2}
    assert script.roles == {
        "generate": {"generator"}, "update": {"generator"}, "score": {"verifier"},
        "loss": {"critic"}, "gradient": {"critic"},
    }  # fmt: skip
    gradient = next(e for e in result.events if e.kind == "textual_gradient").data
    assert (gradient["chosen"], gradient["rejected"], gradient["loss"]) == (1, 0, "longer is better")


def test_the_winners_lineage_names_the_calls_that_made_it():
    result = _run(Script(["short", "a bit longer"], ["the longest answer of all", "mid"]))
    # steps: 0 generate, 1 score, 2 loss, 3 gradient, 4 update, 5 score
    assert result.chosen_candidate.lineage == [(2, 0), (3, 0), (4, 0), (5, 0)]
    assert result.candidates[1].lineage == [(0, 1), (1, 1)]


def test_equal_scores_leave_nothing_to_learn_and_stop_converged():
    script = Script(["same", "same"], scores=lambda text: 0.5)
    result = _run(script, rounds=3)
    assert result.stop_reason == "converged"
    assert [e.kind for e in result.events] == ["round_best", "no_preference"]
    assert script.calls == {"generate": 2, "score": 2}


@pytest.mark.parametrize(("failing", "stop"), [("loss", "budget"), ("gradient", "error")])
def test_a_failed_critic_call_stops_the_run_and_keeps_the_best_paid_for(failing, stop):
    failure = REFUSED if stop == "budget" else RuntimeError("critic is down")
    script = Script(["short", "a bit longer"], **{failing: failure})
    result = _run(script, rounds=2)
    assert (result.output, result.stop_reason) == ("a bit longer", stop)
    assert f"{failing}_failed" in [e.kind for e in result.events]
    assert script.calls["update"] == 0


def test_a_refused_sample_stops_before_any_rewrite():
    script = Script([REFUSED, "a bit longer"])
    result = _run(script, rounds=2)
    assert (result.output, result.stop_reason) == ("a bit longer", "budget")
    assert script.calls == {"generate": 2, "score": 1}
    assert result.candidates[0].budget_refused


def test_a_verifier_reply_that_is_no_verdict_fails_that_response_only():
    script = Script(["short", "a bit longer"], scores=lambda text: "great!" if text == "short" else 0.4)
    result = _run(script, rounds=0)
    assert result.output == "a bit longer"
    assert "scoring failed" in result.candidates[0].error


def test_drive_sends_a_failed_call_back_as_its_exception():
    def one_call():
        (reply,) = yield Step("generator", (Call("generate", "q"),))
        return reply

    assert isinstance(drive(one_call(), lambda call: 1 / 0), ZeroDivisionError)


def test_a_step_needs_calls():
    with pytest.raises(ValueError, match="at least one call"):
        Step("generator", ())


def test_drive_charges_calls_to_the_steps_role():
    budget = Budget()

    def respond(call):
        budget.reserve(10, 5).commit(10, 5)
        return 0.5 if call.target == "score" else "an answer"

    drive(tpo_loop("q", question="q", samples=2, rounds=0), respond)
    assert set(budget.spent.by_role) == {"generator", "verifier"}


def test_responses_whose_scoring_the_budget_refuses_are_returned_unverified():
    script = Script(["short", "a bit longer"], scores=lambda text: REFUSED)
    result = _run(script, rounds=2)
    assert (result.output, result.stop_reason) == ("short", "budget")
    assert result.events[-1].kind == "unverified_choice"
    assert script.calls == {"generate": 2, "score": 2}
