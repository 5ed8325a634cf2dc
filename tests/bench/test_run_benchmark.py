"""End to end on fake models: exact accuracies, calls and tokens, as the budget counted them."""

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins.bench import BenchItem, BenchModels, build_methods, parse_method_names, run_benchmark, summarise

ITEMS = [
    BenchItem(0, "Calculate 9 + 4.", "13"),
    BenchItem(1, "Calculate 2 + 8.", "10"),
    BenchItem(2, "Calculate 8 - 5.", "3"),
]


def models(greedy_replies, sampler_replies, **options):
    greedy = ScriptedChatModel(replies=greedy_replies, input_tokens=10, output_tokens=5)
    sampler = ScriptedChatModel(replies=sampler_replies, input_tokens=10, output_tokens=5)
    # concurrency 1: samples are drawn in order, so the scripted replies land on known items.
    return BenchModels(greedy=greedy, sampler=sampler, concurrency=1, **options)


def test_greedy_and_self_consistency_side_by_side():
    bench = models(
        ["Answer: 13", "Answer: 11", "I do not know"],
        [
            *("Answer: 13", "Answer: 12", "Answer: 13"),  # item 0: 13 wins, right
            *("Answer: 10", "Answer: 10", "Answer: 7"),  # item 1: 10 wins, right
            *("Answer: 4", "Answer: 2", "Answer: 4"),  # item 2: 4 wins, wrong
        ],
    )
    methods = build_methods(parse_method_names("greedy,sc@3"), bench)
    rows = run_benchmark(ITEMS, methods, progress=False)

    assert [(r.item, r.method) for r in rows] == [(i, m) for i in range(3) for m in ("greedy", "sc@3")]
    greedy, sc = summarise(rows)
    assert (greedy.correct, greedy.failures, greedy.mean_calls, greedy.mean_tokens) == (1, 1, 1.0, 15.0)
    assert (sc.correct, sc.failures, sc.mean_calls, sc.mean_tokens) == (2, 0, 3.0, 45.0)
    assert [r.answer for r in rows if r.method == "greedy"] == ["13", "11", None]
    assert [r.answer for r in rows if r.method == "sc@3"] == ["13", "10", "4"]
    assert {r.stop_reason for r in rows if r.method == "sc@3"} == {"done"}
    assert all(r.tokens_by_role == {"generator": r.total_tokens} for r in rows)
    assert bench.greedy.calls == 3 and bench.sampler.calls == 9


def test_the_calculator_best_of_n_stops_at_the_first_verified_sample():
    bench = models(["unused"], ["Answer: 12", "Answer: 13", "Answer: 1", "Answer: 10"])
    (method,) = build_methods(parse_method_names("bon-check@4"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.answer, row.calls, row.samples, row.stop_reason) == (True, "13", 2, 2, "threshold")


def test_a_judge_without_usable_scores_fails_the_item_and_its_calls_still_count():
    judge = FakeListChatModel(responses=["The candidate's final answer is 13."])  # no score anywhere
    bench = models(["unused"], ["Answer: 13"], judge=judge)
    (method,) = build_methods(parse_method_names("bon-judge@2"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert row.failed and not row.correct and row.answer is None
    assert row.error.startswith("AllCandidatesFailed: all 2 candidates failed")
    assert row.calls == 4 and set(row.tokens_by_role) == {"generator", "verifier"}
    assert (row.samples, row.failed_samples) == (2, 2)  # the failed samples are counted, not lost


def test_an_item_whose_samples_all_fail_still_counts_them():
    bench = models(["unused"], ["Answer: 13"])
    bench.sampler.fail_on = frozenset(range(3))
    (method,) = build_methods(parse_method_names("sc@3"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert row.failed and row.error.startswith("AllCandidatesFailed")
    assert (row.samples, row.failed_samples) == (3, 3)
    (summary,) = summarise([row])
    assert summary.sample_failure_rate == 1.0


def test_the_item_budget_caps_every_method():
    bench = models(["unused"], ["Answer: 13"] * 8)
    bench.sampler.max_tokens = 5  # the worst case the budget reserves per call: prompt + 5
    (method,) = build_methods(parse_method_names("sc@8"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], item_budget=120, progress=False)
    assert row.stop_reason == "budget" and row.correct
    assert 1 <= row.calls < 8 and row.total_tokens <= 120
    assert (row.samples, row.failed_samples) == (8, 8 - row.calls)  # the refused samples were never sent


def test_a_method_that_raises_is_a_failed_wrong_item_and_the_run_goes_on():
    bench = models(["Answer: 13"], ["Answer: 13"])
    bench.greedy.fail_on = frozenset({0})
    methods = build_methods(parse_method_names("greedy"), bench)
    first, second = run_benchmark(ITEMS[:2], methods, progress=False)
    assert first.failed and not first.correct and first.error == "RuntimeError: provider error on call 0"
    assert first.failed_calls == 1 and first.calls == 0
    assert second.answer == "13" and not second.correct  # the next item ran (2 + 8 is not 13)


def test_each_row_is_handed_over_as_soon_as_it_is_ready():
    seen = []
    bench = models(["Answer: 13"], ["Answer: 13"])
    run_benchmark(ITEMS, build_methods(parse_method_names("greedy"), bench), on_result=seen.append, progress=False)
    assert [r.item for r in seen] == [0, 1, 2]


def test_refine_with_the_calculator_keeps_only_an_edit_that_fixes_the_answer():
    # draft wrong; the critic (same model) objects; the edit fixes it; the threshold ends the run
    bench = models(["unused"], ["Answer: 12", "It is 13.", "Answer: 13"])
    (method,) = build_methods(parse_method_names("refine-check@2"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.answer, row.calls, row.stop_reason) == (True, "13", 3, "threshold")
    assert set(row.tokens_by_role) == {"generator", "critic", "editor"}


def test_tpo_rows_report_the_best_over_rounds_and_every_role():
    sampler_replies = ["Answer: 12", "Answer: 13", "13 beats 12", "check the sum", "Answer: 13", "Answer: 13",
                       "no change", "keep it", "Answer: 13", "Answer: 13"]  # fmt: skip
    judge = ScriptedChatModel(replies=['{"score": 2}', '{"score": 9}'] * 3, input_tokens=10, output_tokens=5)
    bench = models(["unused"], sampler_replies, judge=judge)
    (method,) = build_methods(parse_method_names("tpo-judge@2"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.answer) == (True, "13")
    assert set(row.tokens_by_role) == {"generator", "verifier", "critic"}


def test_the_beta_rule_stops_a_unanimous_vote_after_its_minimum():
    bench = models(["unused"], ["Answer: 13"])
    (method,) = build_methods(parse_method_names("adaptive-beta-sc@16"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    # P(leader | 4-0) = 31/32 >= 0.95 once the 4 minimum samples are in
    assert (row.correct, row.calls, row.stop_reason) == (True, 4, "converged")


def test_prompting_rows_use_their_own_prompts_and_read_the_answer_they_mark():
    bench = models(["Draft: 9+4=13\n#### 13", "Principle: add.", "Answer: 13"], ["unused"])
    cod, step = build_methods(parse_method_names("cod,step-back"), bench)
    cod_row, step_row = run_benchmark(ITEMS[:1], [cod, step], progress=False)
    assert (cod_row.correct, cod_row.answer, cod_row.calls) == (True, "13", 1)
    assert (step_row.correct, step_row.calls) == (True, 2)
    assert set(step_row.tokens_by_role) == {"step_back", "generator"}


def test_self_consistency_over_chain_of_draft_votes_on_the_marked_answers():
    bench = models(["unused"], ["#### 13", "#### 12", "#### 13"])
    (method,) = build_methods(parse_method_names("sc-cod@3"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.answer, row.calls, row.samples) == (True, "13", 3, 3)


def test_budget_forcing_rows_read_the_forced_final_answer():
    bench = models(["9 and 4 make thirteen", "13"], ["unused"])
    (method,) = build_methods(parse_method_names("forcing@64"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.answer, row.calls) == (True, "13", 2)
    assert set(row.tokens_by_role) == {"thinking", "answer"}


def test_budget_forcing_rows_continue_through_completions_when_the_template_is_known():
    from tests.langchain.fakes import ScriptedCompletionModel
    from ttc_plugins.chat_templates import CHATML

    completions = ScriptedCompletionModel(replies=["9 and 4 make thirteen.", " 13"])
    bench = models(["unused"], ["unused"], completions=completions, chat_template=CHATML)
    (method,) = build_methods(parse_method_names("forcing@64"), bench)
    (row,) = run_benchmark(ITEMS[:1], [method], progress=False)
    assert (row.correct, row.calls) == (True, 2)
    assert completions.prompts[1].endswith("<|im_start|>assistant\n9 and 4 make thirteen.\nFinal Answer:")
    assert bench.greedy.calls == 0  # the chat model is not used when the completions path is available
