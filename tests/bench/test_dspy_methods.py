"""DSPy's own majority and BestOfN as benchmark peers, on DummyLM: counted by the same item budget."""

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins.bench import BenchItem, BenchModels, build_methods, parse_method_names, run_benchmark

ITEM = BenchItem(0, "Calculate 9 + 4.", "13")


@pytest.fixture(autouse=True)
def no_dspy_cache():
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)


def run(method_name, replies):
    lm = DummyLM(replies)
    (method,) = build_methods(
        parse_method_names(method_name), BenchModels(greedy=None, sampler=None, dspy_lm=lm, concurrency=1)
    )
    (row,) = run_benchmark([ITEM], [method], progress=False)
    return row, lm


def test_majority_votes_over_separate_rollouts_and_every_call_is_charged():
    row, lm = run("dspy-majority@3", [{"answer": "Answer: 13"}, {"answer": "Answer: 12"}, {"answer": "13"}])
    assert (row.correct, row.answer, row.samples, row.failed_samples) == (True, "13", 3, 0)
    assert row.calls == 3 and row.tokens_by_role.keys() == {"generator"} and row.input_tokens > 0
    assert {entry["kwargs"].get("rollout_id") for entry in lm.history} == {0, 1, 2}


def test_unparseable_replies_are_failed_samples_and_all_failing_fails_the_item():
    row, _ = run("dspy-majority@2", [{"not_the_answer": "13"}] * 4)
    assert row.failed and not row.correct
    assert row.error.startswith("DSPySamplesFailed: all 2 samples failed; the first: AdapterParseError")
    assert row.calls == 4  # each sample: the ChatAdapter's call and its JSONAdapter retry


def test_best_of_n_stops_at_the_first_answer_the_calculator_accepts():
    row, _ = run("dspy-bestofn@4", [{"answer": "Answer: 12"}, {"answer": "Answer: 13"}, {"answer": "Answer: 1"}])
    assert (row.correct, row.answer, row.calls, row.samples, row.stop_reason) == (True, "13", 2, 2, "threshold")


def test_best_of_n_counts_attempts_that_failed_to_parse(capsys):
    row, _ = run("dspy-bestofn@2", [{"nothing": "x"}, {"nothing": "x"}, {"answer": "Answer: 13"}])
    assert (row.correct, row.samples, row.failed_samples, row.calls) == (True, 2, 1, 3)
    assert "BestOfN" not in capsys.readouterr().out  # DSPy's print is captured, not mixed into the table
