import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins import Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.dspy.budget_forcing import BudgetForcing


def _words(text):
    return len(text.split())


def _lm(*thinking, answer="7"):
    """DummyLM replies: each thinking continuation in order, then the answer."""
    return DummyLM([{"thinking": text} for text in thinking] + [{"answer": answer}])


def _sent(lm, call, field):
    """The value of ``field`` in the last user message of the ``call``-th request."""
    content = lm.history[call]["messages"][-1]["content"]
    return content.split(f"[[ ## {field} ## ]]\n")[1].split("\n\n")[0]


def test_a_model_that_stops_early_is_told_to_wait_and_continues():
    lm = _lm("3 + 4 = 7.", "Let me check: 4 + 3 = 7.")
    program = BudgetForcing("question -> answer", min_thinking_tokens=8, max_waits=2, count=_words)
    with dspy.context(lm=lm):
        prediction = program(question="What is 3 + 4?")
    assert (prediction.thinking, prediction.answer) == ("3 + 4 = 7. Wait Let me check: 4 + 3 = 7.", "7")
    assert len(lm.history) == 3
    assert _sent(lm, 1, "reasoning_so_far") == "3 + 4 = 7. Wait"
    assert _sent(lm, 2, "reasoning") == "3 + 4 = 7. Wait Let me check: 4 + 3 = 7.\nFinal Answer:"
    result = prediction.ttc_result
    assert isinstance(result, TTCResult)
    assert (result.answer, result.stop_reason) == ("7", "done")
    assert [e.kind for e in result.events] == ["thinking", "wait", "thinking", "thinking_end", "answer"]
    assert result.events[3].data == {"reason": "model_stopped", "thinking_tokens": 14}


def test_waits_stop_at_max_waits():
    lm = _lm("7.", "7.", "7.")
    program = BudgetForcing("question -> answer", min_thinking_tokens=20, max_waits=2, count=_words)
    with dspy.context(lm=lm):
        prediction = program(question="q")
    assert prediction.thinking == "7. Wait 7. Wait 7."
    assert prediction.ttc_result.events[-2].data["reason"] == "waits_used"
    assert len(lm.history) == 4


def test_thinking_is_cut_at_the_cap_and_each_call_is_capped():
    lm = _lm("one two three four five six seven eight")
    program = BudgetForcing("question -> answer", max_thinking_tokens=5, max_answer_tokens=3, count=_words)
    with dspy.context(lm=lm):
        prediction = program(question="q")
    # The longest prefix within the cap keeps the space after the fifth word, so the marker follows it directly.
    assert prediction.thinking == "one two three four five "
    assert _sent(lm, 1, "reasoning") == "one two three four five Final Answer:"
    # The thinking call's cap leaves room for the adapter's field markers; the answer call's is the answer cap.
    assert [entry["kwargs"]["max_tokens"] for entry in lm.history] == [5 + 16, 3]
    assert prediction.ttc_result.events[-2].data == {"reason": "cap", "thinking_tokens": 5}


def test_thinking_and_answer_calls_are_charged_under_their_roles():
    dspy.configure(lm=_lm("a.", "b."))
    budget = Budget()
    with budget_scope(budget):
        prediction = BudgetForcing("question -> answer", min_thinking_tokens=3, max_waits=1, count=_words)(question="q")
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"thinking": 2, "answer": 1}
    assert prediction.ttc_result.spend.calls == 3


def test_a_refused_answer_call_returns_the_thinking_so_far():
    dspy.configure(lm=_lm("3 + 4 = 7."))
    with budget_scope(Budget(max_calls=1)):
        prediction = BudgetForcing("question -> answer", count=_words)(question="q")
    assert (prediction.thinking, prediction.answer) == ("3 + 4 = 7.", None)
    assert prediction.ttc_result.stop_reason == "budget"


def test_a_refused_first_call_raises():
    lm = _lm("never")
    dspy.configure(lm=lm)
    program = BudgetForcing("question -> answer", max_thinking_tokens=5, count=_words)
    with budget_scope(Budget(max_output_tokens=20)), pytest.raises(BudgetExceeded):
        program(question="q")  # the thinking call may write 5 + 16 tokens: its worst case does not fit
    assert lm.history == []


async def test_it_runs_async():
    with dspy.context(lm=_lm("3 + 4 = 7.", "Yes.")):
        program = BudgetForcing("question -> answer", min_thinking_tokens=6, max_waits=1, count=_words)
        prediction = await program.acall(question="q")
    assert (prediction.thinking, prediction.answer) == ("3 + 4 = 7. Wait Yes.", "7")


def test_optimizers_find_both_predictors_and_a_call_changes_nothing():
    program = BudgetForcing("context, question -> answer")
    assert [name for name, _ in program.named_predictors()] == ["think", "answer"]
    assert list(program.think.signature.input_fields) == ["context", "question", "reasoning_so_far"]
    assert list(program.answer.signature.output_fields) == ["answer"]
    state = program.dump_state()
    with dspy.context(lm=_lm("x")):
        program(context="c", question="q")
    assert program.dump_state() == state


@pytest.mark.parametrize("signature", ["question, thinking -> answer", "question -> reasoning, answer"])
def test_fields_it_adds_must_not_clash(signature):
    with pytest.raises(ValueError, match="clash"):
        BudgetForcing(signature)


def test_bad_limits_fail_when_the_module_is_built():
    with pytest.raises(ValueError, match="max_waits"):
        BudgetForcing("question -> answer", min_thinking_tokens=10)


def test_every_call_that_made_the_answer_reaches_the_callers_trace():
    program = BudgetForcing("question -> answer", min_thinking_tokens=3, max_waits=1, count=_words)
    trace = []
    with dspy.context(lm=_lm("a.", "b."), trace=trace):
        program(question="q")
    assert [predictor for predictor, _, _ in trace] == [program.think, program.think, program.answer]
    assert [inputs["reasoning_so_far"] for _, inputs, _ in trace[:2]] == ["", "a. Wait"]
