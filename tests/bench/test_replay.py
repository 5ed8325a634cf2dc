"""Replaying a self-consistency row's vote on its own samples."""

from tests.bench.test_run_benchmark import ITEMS, models
from ttc_plugins.bench import build_methods, parse_method_names, run_benchmark
from ttc_plugins.bench.records import ItemResult
from ttc_plugins.bench.replay import replay_votes


def sc_row(answers, *, method=None, expected="13", stop_reason="done"):
    return ItemResult(
        method=method or f"sc@{len(answers)}",
        item=0,
        question="Calculate 9 + 4.",
        expected=expected,
        answer=None,
        correct=False,
        failed=False,
        stop_reason=stop_reason,
        sample_answers=list(answers),
        sample_tokens=[[10, i + 1] for i in range(len(answers))],
    )


def test_a_live_self_consistency_row_records_every_samples_answer():
    bench = models(["unused"], ["Answer: 12", "Answer: 13", "no answer here", "Answer: 13"])
    (method,) = build_methods(parse_method_names("sc@4"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert row.sample_answers == ["12", "13", None, "13"]
    assert row.sample_tokens == [[10, 5]] * 4  # each sample's own budget, though the chain returns text


def test_rows_without_per_sample_tokens_are_replayed_at_the_mean_per_sample():
    row = sc_row(["13", "12", "13", "13"])
    row = ItemResult(**{**row.__dict__, "sample_tokens": [], "input_tokens": 40, "output_tokens": 20})
    (maj2, *_) = [r for r in replay_votes([row]) if r.method == "sc@4:maj@2"]
    assert (maj2.input_tokens, maj2.output_tokens) == (20, 10)  # half the row's 40 + 20


def test_prefix_votes_use_the_first_k_samples_and_count_only_their_tokens():
    rows = replay_votes([sc_row(["12", "13", "13", "13", "12", "12", "12", "12"])], confidences=())
    by_name = {r.method: r for r in rows}
    assert list(by_name) == ["sc@8:maj@1", "sc@8:maj@2", "sc@8:maj@4", "sc@8:stop-unbeatable"]
    assert [(by_name[f"sc@8:maj@{k}"].answer, by_name[f"sc@8:maj@{k}"].correct) for k in (1, 2, 4)] == [
        ("12", False),
        ("12", False),  # a 1-1 tie goes to the first sample
        ("13", True),
    ]
    four = by_name["sc@8:maj@4"]
    assert (four.calls, four.input_tokens, four.output_tokens) == (4, 40, 1 + 2 + 3 + 4)
    # never settled early: 3 vs 1 after 4 with 4 left can still be caught; the full vote is 12 (5 vs 3)
    unbeatable = by_name["sc@8:stop-unbeatable"]
    assert (unbeatable.calls, unbeatable.answer, unbeatable.stop_reason) == (8, "12", "done")


def test_stopping_rules_stop_where_the_live_rules_would():
    unanimous = ["13"] * 16
    rows = {r.method: r for r in replay_votes([sc_row(unanimous)], confidences=(0.95, 0.8))}
    assert rows["sc@16:stop-unbeatable"].calls == 9  # 9 - 0 > 16 - 9
    assert rows["sc@16:stop-beta.95"].calls == 4  # P(leader | 4-0) = 31/32, at the 4-sample minimum
    assert rows["sc@16:stop-beta.80"].calls == 4
    assert rows["sc@16:stop-beta.95"].stop_reason == "converged" and rows["sc@16:stop-beta.95"].correct


def test_rows_that_cannot_be_replayed_are_skipped():
    skipped = [
        sc_row(["13"] * 4, stop_reason="budget"),  # stopped early: fewer samples than k
        sc_row(["13"] * 3, method="sc@4"),  # not every sample recorded
        sc_row(["13"] * 4, method="adaptive-sc@4"),  # only plain self-consistency rows
    ]
    assert replay_votes(skipped) == []


def test_a_prefix_without_any_answer_is_a_failed_row():
    (first, *_) = replay_votes([sc_row([None, "13", "13", "13"])])
    assert (first.method, first.failed, first.correct, first.failed_samples) == ("sc@4:maj@1", True, False, 1)
