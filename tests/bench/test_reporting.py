import json

from ttc_plugins.bench.plot import plot_accuracy_vs_tokens
from ttc_plugins.bench.records import ItemResult, JsonlResultWriter, read_results
from ttc_plugins.bench.summary import format_table, summarise


def row(method, item, *, correct, failed=False, tokens=(60, 40), calls=1, samples=1, failed_samples=0):
    return ItemResult(
        method=method,
        item=item,
        question=f"q{item}",
        expected="1",
        answer=None if failed else ("1" if correct else "2"),
        correct=correct,
        failed=failed,
        error="RuntimeError: boom" if failed else None,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        calls=calls,
        samples=samples,
        failed_samples=failed_samples,
        seconds=0.5,
    )


ROWS = [
    row("greedy", 0, correct=True),
    row("sc@4", 0, correct=True, tokens=(240, 160), calls=4, samples=4),
    row("greedy", 1, correct=False),
    row("sc@4", 1, correct=False, failed=True, tokens=(120, 80), calls=2, samples=0),
    row("greedy", 2, correct=False, failed=True, tokens=(60, 0)),
    row("sc@4", 2, correct=True, tokens=(240, 160), calls=4, samples=4, failed_samples=1),
]


def test_the_writer_writes_one_flushed_line_per_row_and_reads_back(tmp_path):
    path = tmp_path / "out" / "results.jsonl"
    with JsonlResultWriter(path) as write:
        write(ROWS[0])
        assert len(path.read_text().splitlines()) == 1  # on disk before the run ends
        for r in ROWS[1:]:
            write(r)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["method"] for line in lines] == [r.method for r in ROWS]
    assert json.loads(lines[3])["error"] == "RuntimeError: boom"
    assert read_results(path) == ROWS


def test_the_writer_starts_a_fresh_file(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("old\n")
    with JsonlResultWriter(path) as write:
        write(ROWS[0])
    assert read_results(path) == [ROWS[0]]


def test_summaries_count_failures_as_wrong_and_average_all_tokens():
    greedy, sc = summarise(ROWS)
    assert (greedy.method, greedy.items, greedy.correct, greedy.failures) == ("greedy", 3, 1, 1)
    assert round(greedy.mean_tokens, 2) == round((100 + 100 + 60) / 3, 2)
    assert (sc.correct, sc.failures, sc.mean_calls) == (2, 1, 10 / 3)
    assert (sc.samples, sc.failed_samples) == (8, 1)
    assert round(sc.low, 4) == 0.2077 and round(sc.high, 4) == 0.9385  # Wilson, 2 of 3


def test_each_method_is_paired_with_greedy_on_the_items_both_ran():
    rows = [row("greedy", i, correct=i < 3) for i in range(10)]
    rows += [row("sc@4", i, correct=i >= 1) for i in range(10)]  # right on 1..9: beats greedy on 7, loses item 0
    rows += [row("late", i, correct=True) for i in range(5, 12)]  # items 10, 11 have no greedy row
    greedy, sc, late = summarise(rows)
    assert greedy.vs_baseline is None
    paired = sc.vs_baseline
    assert (paired.items, paired.only_method, paired.only_baseline) == (10, 7, 1)
    assert round(paired.difference, 2) == 0.6 and round(paired.p_value, 4) == 0.0703
    assert (late.vs_baseline.items, late.vs_baseline.only_method) == (5, 5)
    assert all(s.vs_baseline is None for s in summarise(rows, baseline=None))
    assert all(s.vs_baseline is None for s in summarise([r for r in rows if r.method != "greedy"]))


def test_the_table_shows_every_column_and_marks_oracle_like_methods():
    table = format_table(summarise(ROWS), oracle_like=["sc@4"])
    lines = table.splitlines()
    assert lines[0].split() == [
        "method", "n", "accuracy", "(95%", "CI)", "vs", "greedy", "tokens/item", "calls/item", "failed", "items",
        "failed", "samples", "s/item",
    ]  # fmt: skip
    assert lines[2].split() == ["greedy", "3", "0.33", "(0.06-0.79)", "-", "87", "1.0", "33%", "0%", "0.5"]
    # sc@4 alone got item 2 right, neither got item 1, both item 0: +1/3, and one discordant item is p = 1
    assert lines[3].split() == [
        "sc@4",
        "*",
        "3",
        "0.67",
        "(0.21-0.94)",
        "+0.33",
        "p=1",
        "333",
        "3.3",
        "33%",
        "12%",
        "0.5",
    ]
    assert lines[-1].startswith("* oracle-like")
    assert "oracle-like" not in format_table(summarise(ROWS))


def test_the_plot_is_a_png(tmp_path):
    path = plot_accuracy_vs_tokens(summarise(ROWS), tmp_path / "plots" / "a.png", title="t", oracle_like=["sc@4"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
