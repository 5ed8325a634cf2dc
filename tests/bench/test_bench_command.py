import argparse
import contextlib
import json

import pytest

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import cli
from ttc_plugins.bench import command, parallelism
from ttc_plugins.bench.methods import FAMILIES, BenchModels
from ttc_plugins.bench.parallelism import ParallelismMeasurement


def test_help_documents_every_option_and_method(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--task", "--jsonl", "--items", "--seed", "--methods", "--item-budget", "--max-tokens", "--temperature",
        "--concurrency", "--base-url", "--model", "--out", "--no-progress", "--check-parallelism",
    ):  # fmt: skip
        assert option in text
    for family in FAMILIES:
        assert family in text
    assert "oracle-like" in text and "Wilson" in text and "same_answer" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--items", "0"], "--items must be at least 1"),
        (["--methods", "beam@4"], "unknown method 'beam@4'"),
        (["--item-budget", "0"], "--item-budget must be at least 1"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--temperature", "0"], "--temperature must be in (0, 2]"),
        (["--jsonl", "/nonexistent/items.jsonl"], "No such file"),
    ],
)
def test_usage_errors_exit_2_before_any_model_starts(args, message, capsys, monkeypatch):
    monkeypatch.setattr("ttc_plugins.local.model_endpoint", pytest.fail)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_jsonl_line_is_a_usage_error_naming_the_line(tmp_path, capsys):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "q", "answer": 1}\n{"question": "q"}\n')
    with pytest.raises(SystemExit):
        cli.main(["bench", "--jsonl", str(path)])
    assert "mine.jsonl:2: missing 'answer'" in capsys.readouterr().err


def test_check_parallelism_prints_both_wall_times(monkeypatch, capsys):
    measured = ParallelismMeasurement(samples=16, delay=0.2, seconds={1: 3.25, 16: 0.22})
    monkeypatch.setattr(parallelism, "measure_parallelism", lambda: measured)
    assert cli.main(["bench", "--check-parallelism"]) == 0
    out = capsys.readouterr().out
    assert "max_concurrency= 1:   3.25 s" in out and "max_concurrency=16:   0.22 s" in out
    assert "speed-up 1 -> 16: 14.8x" in out


def test_a_run_prints_the_table_and_writes_rows_plot_and_settings(tmp_path, monkeypatch, capsys):
    @contextlib.contextmanager
    def fake_endpoint(base_url, model):
        yield "http://127.0.0.1:9/v1", "scripted"

    def fake_models(url, model, args, specs, *, embedded):
        greedy = ScriptedChatModel(replies=["Answer: 13", "Answer: 11", "Answer: 16"])
        sampler = ScriptedChatModel(replies=["Answer: 13", "Answer: 10"])
        return BenchModels(greedy=greedy, sampler=sampler, concurrency=1)

    monkeypatch.setattr("ttc_plugins.local.model_endpoint", fake_endpoint)
    monkeypatch.setattr(command, "_models", fake_models)
    out_dir = tmp_path / "results"
    code = cli.main(["bench", "--items", "3", "--methods", "greedy,sc@2", "--out", str(out_dir), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "scripted on basic_arithmetic, 3 items" in printed and "estimate: ~9 model calls" in printed
    assert "accuracy (95% CI)" in printed and "\ngreedy " in printed and "\nsc@2 " in printed

    rows = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    assert [(r["item"], r["method"]) for r in rows] == [(i, m) for i in range(3) for m in ("greedy", "sc@2")]
    assert (out_dir / "accuracy_vs_tokens.png").read_bytes()[:4] == b"\x89PNG"
    assert "accuracy (95% CI)" in (out_dir / "summary.txt").read_text()
    settings = json.loads((out_dir / "run.json").read_text())
    assert settings["methods"] == ["greedy", "sc@2"] and settings["seed"] == 2024 and settings["rows"] == 6
    assert not settings["interrupted"]


def test_forcing_uses_the_completions_path_where_the_chat_template_is_known():
    from ttc_plugins.bench.methods import parse_method_names
    from ttc_plugins.chat_templates import CHATML
    from ttc_plugins.local import LOCAL_CHAT_TEMPLATE

    def models_for(methods, *flags, embedded):
        args = command.add_bench_parser(argparse.ArgumentParser().add_subparsers()).parse_args(list(flags))
        return command._models("http://127.0.0.1:9/v1", "m", args, parse_method_names(methods), embedded=embedded)

    embedded = models_for("greedy,forcing@64", embedded=True)
    assert embedded.chat_template is LOCAL_CHAT_TEMPLATE and type(embedded.completions).__name__ == "OpenAI"
    assert embedded.completions.temperature == 0.0
    assert models_for("forcing@64", embedded=False).completions is None  # unknown template: re-prompt
    assert models_for("forcing@64", "--chat-template", "chatml", embedded=False).chat_template is CHATML
    assert models_for("greedy", embedded=True).completions is None  # built only for the forcing rows


def test_replay_votes_adds_rows_replayed_from_the_sc_samples(tmp_path, monkeypatch, capsys):
    @contextlib.contextmanager
    def fake_endpoint(base_url, model):
        yield "http://127.0.0.1:9/v1", "scripted"

    def fake_models(url, model, args, specs, *, embedded):
        greedy = ScriptedChatModel(replies=["Answer: 13", "Answer: 11"])
        sampler = ScriptedChatModel(replies=["Answer: 13", "Answer: 10", "Answer: 13", "Answer: 13"])
        return BenchModels(greedy=greedy, sampler=sampler, concurrency=1)

    monkeypatch.setattr("ttc_plugins.local.model_endpoint", fake_endpoint)
    monkeypatch.setattr(command, "_models", fake_models)
    out_dir = tmp_path / "results"
    argv = ["bench", "--items", "2", "--methods", "greedy,sc@4", "--out", str(out_dir), "--no-progress"]
    assert cli.main([*argv, "--replay-votes"]) == 0
    printed = capsys.readouterr().out
    for name in ("sc@4:maj@1", "sc@4:maj@2", "sc@4:stop-unbeatable", "sc@4:stop-beta.95", "sc@4:stop-beta.80"):
        assert f"\n{name} " in printed
    replayed = [json.loads(line) for line in (out_dir / "replayed.jsonl").read_text().splitlines()]
    assert len(replayed) == 2 * 6 and {r["method"] for r in replayed} >= {"sc@4:maj@1"}
    assert len((out_dir / "results.jsonl").read_text().splitlines()) == 4  # the live rows only


def test_replay_votes_needs_a_self_consistency_row(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--methods", "greedy,bon-check@4", "--replay-votes"])
    assert "--replay-votes replays sc@k rows" in capsys.readouterr().err
