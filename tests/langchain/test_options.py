"""Bad options are refused with a ValueError before the model is called; odd outputs and scores don't crash a run."""

import math

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import (
    best_of_n,
    budget_forcing,
    ensemble,
    feedback_edit,
    refine,
    self_consistency,
    tpo,
)
from ttc_plugins.strategies.select import AdaptiveStop

SERIAL = {"max_concurrency": 1}


def _score(question, candidate):
    return 0.5


BAD_OPTIONS = [
    (lambda m: self_consistency(m, n=10**9), "n must be a positive integer of at most 1000"),
    (lambda m: self_consistency(m, n=4, adaptive=True, wave_size=10**9), "wave_size must be"),
    (lambda m: self_consistency(m, adaptive=AdaptiveStop(rule="beta", confidence="0.9")), "confidence must be"),
    (lambda m: best_of_n(m, verifier=_score, threshold="0.5"), r"threshold must be a score in \[0, 1\]"),
    (lambda m: best_of_n(m, verifier=_score, threshold=math.nan), r"threshold must be a score in \[0, 1\]"),
    (lambda m: best_of_n(m, verifier=_score, n=10**9), "n must be a positive integer of at most 1000"),
    (lambda m: ensemble([m] * 1001), r"len\(runnables\) must be a positive integer of at most 1000"),
    (lambda m: refine(m, scorer=_score, threshold="0.5"), r"threshold must be a score in \[0, 1\]"),
    (lambda m: refine(m, scorer=_score, max_rounds=10**9), "max_rounds must be a non-negative integer of at most"),
    (lambda m: feedback_edit(m, feedback_model=m, edit_model=m, judge=_score, drafts=10**9), "drafts must be"),
    (lambda m: feedback_edit(m, feedback_model=m, edit_model=m, judge=_score, drafts=100, edits=100), "versions"),
    (lambda m: tpo(m, scorer=_score, samples=10**9), "samples must be an integer of at least 2 of at most 1000"),
    (lambda m: tpo(m, scorer=_score, rounds="2"), "rounds must be a non-negative integer"),
    (lambda m: budget_forcing(m, max_waits=10**9), "max_waits must be a non-negative integer of at most 1000"),
    (lambda m: budget_forcing(m, max_thinking_tokens="100"), "max_thinking_tokens must be a positive integer"),
]


@pytest.mark.parametrize(("build", "message"), BAD_OPTIONS)
def test_a_bad_option_is_a_value_error_before_any_call(build, message):
    model = ScriptedChatModel(replies=["Answer: 4"])
    with pytest.raises(ValueError, match=message):
        build(model).invoke("q")
    assert model.calls == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda m: self_consistency(m, n=8, use_provider_n=False),
        lambda m: best_of_n(m, verifier=_score, n=8, use_provider_n=False),
        lambda m: ensemble([m] * 8),
        lambda m: tpo(m, scorer=_score, samples=8),
    ],
)
@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_more_samples_than_the_budget_can_ever_admit_are_refused_before_any_call(build, run):
    model = ScriptedChatModel(replies=["Answer: 4"])
    with budget_scope(Budget(max_calls=5)), pytest.raises(ValueError, match=r"=8 samples can never fit.*max_calls=5"):
        outcome = getattr(build(model), run)("q")
        if run == "ainvoke":
            await outcome
    assert model.calls == 0


def test_an_adaptive_run_may_ask_for_more_samples_than_max_calls_it_stops_early():
    model = ScriptedChatModel(replies=["Answer: 4", "Answer: 5"])
    with budget_scope(Budget(max_calls=5)):
        result = self_consistency(model, n=20, adaptive=True, use_provider_n=False).with_result().invoke("q", SERIAL)
    assert (result.stop_reason, model.calls) == ("budget", 5)
    assert result.answer == "4"


@pytest.mark.parametrize(
    "replies",
    [
        [["Answer: 4"], ["Answer: 5"], ["Answer: 4"]],
        [[HumanMessage("q"), AIMessage(text)] for text in ("Answer: 4", "Answer: 5", "so 4")],
        [{"messages": [HumanMessage("q"), AIMessage(text)]} for text in ("Answer: 4", "Answer: 5", "so 4")],
    ],
    ids=["strings", "messages", "messages-state"],
)
def test_a_chain_returning_a_list_is_voted_on_its_text_not_its_repr(replies):
    outputs = iter(replies)
    chain = RunnableLambda(lambda question: next(outputs))
    result = self_consistency(chain, n=3).with_result().invoke("q", SERIAL)
    assert ([c.answer for c in result.candidates], result.answer) == (["4", "5", "4"], "4")
