"""The DSPy modules refuse bad options with a ValueError before the LM is called, and survive huge scores."""

import math

import dspy
import pytest
from dspy.utils import DummyLM

from tests.dspy.fakes import UsageEngine, usage_lm
from ttc_plugins import Budget, budget_scope
from ttc_plugins.dspy import TPO, BestOfN, BudgetForcing, FeedbackEdit, Refine, SelfConsistency


def _score(inputs, prediction):
    return 0.5


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SelfConsistency("question -> answer", temperature="hot"), "temperature must be a number"),
        (lambda: SelfConsistency("question -> answer", temperature=-1), "temperature must be a number of at least 0"),
        (lambda: SelfConsistency("question -> answer", temperature=math.nan), "temperature must be a number"),
        (lambda: SelfConsistency("question -> answer", n=10**9), "n must be a positive integer of at most 1000"),
        (lambda: SelfConsistency("question -> answer", num_threads=10**9), "num_threads must be a positive integer"),
        (lambda: BestOfN("question -> answer", verifier=_score, threshold="0.5"), r"threshold must be a score"),
        (lambda: BestOfN("question -> answer", verifier=_score, temperature=math.inf), "temperature must be"),
        (lambda: Refine("question -> answer", scorer=_score, temperature="hot"), "temperature must be a number"),
        (lambda: Refine("question -> answer", scorer=_score, threshold="0.5"), r"threshold must be a score"),
        (lambda: FeedbackEdit("question -> answer", judge=_score, temperature=-1), "temperature must be a number"),
        (lambda: FeedbackEdit("question -> answer", judge=_score, drafts=10**9), "drafts must be a positive integer"),
        (lambda: TPO("question -> answer", scorer=_score, temperature=math.nan), "temperature must be a number"),
        (lambda: TPO("question -> answer", scorer=_score, samples=10**9), "samples must be an integer of at least 2"),
        (lambda: BudgetForcing("question -> answer", max_waits=10**9), "max_waits must be a non-negative integer"),
    ],
)
def test_a_bad_option_is_a_value_error_before_any_call(build, message):
    engine = UsageEngine(reasoning="r")
    dspy.configure(lm=usage_lm(engine))
    with pytest.raises(ValueError, match=message):
        build()(question="q")
    assert engine.calls == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: SelfConsistency("question -> answer", n=8),
        lambda: BestOfN("question -> answer", n=8, verifier=_score),
        lambda: TPO("question -> answer", scorer=_score, samples=8),
    ],
)
@pytest.mark.parametrize("run", ["forward", "aforward"])
async def test_more_samples_than_the_budget_can_ever_admit_are_refused_before_any_call(build, run):
    engine = UsageEngine(reasoning="r")
    refused = pytest.raises(ValueError, match=r"=8 samples can never fit.*max_calls=5")
    with dspy.context(lm=usage_lm(engine)), budget_scope(Budget(max_calls=5)), refused:
        outcome = build().acall(question="q") if run == "aforward" else build()(question="q")
        if run == "aforward":
            await outcome
    assert engine.calls == 0


@pytest.mark.parametrize("huge", [10**5000, math.inf, math.nan], ids=["10**5000", "inf", "nan"])
def test_a_huge_score_fails_only_its_candidate_and_the_others_still_win(huge):
    dspy.configure(lm=DummyLM([{"reasoning": "r", "answer": answer} for answer in ("1", "2", "3")]))
    scores = {"1": 0.3, "2": huge, "3": 0.8}
    program = BestOfN("question -> answer", n=3, verifier=lambda i, p: scores[p.answer], num_threads=1)
    result = program(question="q").ttc_result
    assert result.answer == "3"
    assert [c.index for c in result.failures] == [1]
