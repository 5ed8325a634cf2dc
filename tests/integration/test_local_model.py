"""End to end: the real server, the real ChatOpenAI and dspy.LM clients, the real budget."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import dspy
import pytest

from tests.reservations import record_reservations
from ttc_plugins import Budget, BudgetExceeded, budget_scope, count_tokens
from ttc_plugins.dspy import BudgetedLM
from ttc_plugins.local import LocalModelError, local_chat_model, local_dspy_lm, local_server
from ttc_plugins.local._server import _answers
from ttc_plugins.prompt_overhead import prompt_overheads

pytestmark = pytest.mark.integration


def _server_processes(port: int) -> list[str]:
    pattern = f"ttc_plugins._server_child {os.getpid()} .*--port {port} "
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def test_chat_openai_calls_are_charged_the_servers_usage_and_stopped_at_the_limit(local_base_url):
    llm = local_chat_model(local_base_url, max_tokens=16, temperature=0.0)
    budget = Budget(max_total_tokens=250)
    replies = []
    with budget_scope(budget), pytest.raises(BudgetExceeded) as refused:
        for _ in range(50):
            replies.append(llm.invoke("Name a colour."))
    assert refused.value.limit == "max_total_tokens"
    assert len(replies) >= 2
    spend = budget.spent
    assert spend.calls == len(replies)
    assert spend.input_tokens == sum(r.usage_metadata["input_tokens"] for r in replies)
    assert spend.output_tokens == sum(r.usage_metadata["output_tokens"] for r in replies)
    assert all(r.usage_metadata["output_tokens"] <= 16 for r in replies)  # the cap reached the server
    assert spend.total_tokens <= 250


async def test_async_calls_are_charged_the_servers_usage(local_base_url):
    llm = local_chat_model(local_base_url, max_tokens=12)
    budget = Budget()
    with budget_scope(budget):
        reply = await llm.ainvoke("Say hello.")
    assert (budget.spent.input_tokens, budget.spent.output_tokens) == (
        reply.usage_metadata["input_tokens"],
        reply.usage_metadata["output_tokens"],
    )


async def test_streams_without_usage_are_charged_by_counting(local_base_url):
    # llama.cpp's server sends no usage when streaming, so the text is counted instead.
    llm = local_chat_model(local_base_url, max_tokens=12)
    budget = Budget()
    with budget_scope(budget):
        chunks = [chunk async for chunk in llm.astream("Say hello.")]
    streamed = sum(chunks[1:], chunks[0])
    assert streamed.usage_metadata is None
    assert budget.spent.calls == 1
    assert budget.spent.output_tokens == count_tokens(streamed.content, "smollm2-135m")
    # The prompt as counted plus what the server adds to it (its chat template, the default system message).
    counted = count_tokens([("human", "Say hello.")], "smollm2-135m")
    assert budget.spent.input_tokens == counted + prompt_overheads.allowance("smollm2-135m") > counted


@pytest.mark.parametrize("client", ["langchain", "dspy"])
def test_every_call_commits_no_more_than_it_reserved_from_the_first_call_on(local_base_url, no_dspy_cache, client):
    # The server adds SmolLM2's default system message and ChatML tokens that a plain count misses
    # (counted 11-18, reported 34-41): a call admitted at its limit used to overshoot by half.
    budget = Budget()
    granted = record_reservations(budget)
    prompts = ["Say hello.", "What is 7 + 5? Answer with a number.", "Name three colours, one per line. " * 4]
    committed = []
    with budget_scope(budget):
        for prompt in prompts:
            before = budget.spent.total_tokens
            if client == "langchain":
                local_chat_model(local_base_url, max_tokens=16).invoke(prompt)
            else:
                BudgetedLM(local_dspy_lm(local_base_url, max_tokens=16, cache=False))(prompt)
            committed.append(budget.spent.total_tokens - before)
    reserved = [reservation.input_tokens + reservation.output_tokens for reservation in granted]
    assert len(reserved) == len(committed) == 3
    assert all(used <= worst for used, worst in zip(committed, reserved, strict=True)), (committed, reserved)


def test_a_dspy_predict_call_is_charged_the_servers_usage_and_stopped(local_base_url, no_dspy_cache):
    lm = local_dspy_lm(local_base_url, max_tokens=24, cache=False)
    dspy.configure(lm=lm)
    program = dspy.Predict("question -> answer")
    budget = Budget(max_calls=3)
    with budget_scope(budget), pytest.raises(BudgetExceeded, match="max_calls=3"):
        for _ in range(10):
            try:
                program(question="What is 2 + 2?")
            except BudgetExceeded:
                raise
            except Exception:  # the 135M model often breaks DSPy's output format: still a paid call
                continue
    assert len(lm.history) == 3  # the refused call never reached the server
    assert budget.spent.calls == 3
    assert budget.spent.input_tokens == sum(entry["usage"]["prompt_tokens"] for entry in lm.history)
    assert budget.spent.output_tokens == sum(entry["usage"]["completion_tokens"] for entry in lm.history)


def test_the_server_is_gone_after_the_block_on_success_error_and_ctrl_c():
    for ending in (None, RuntimeError, KeyboardInterrupt):
        expectation = pytest.raises(ending) if ending else contextlib.nullcontext()
        with expectation, local_server() as base_url:
            port = int(base_url.rsplit(":", 1)[1].split("/")[0])
            assert _answers("127.0.0.1", port)
            assert len(_server_processes(port)) == 1
            if ending:
                raise ending("stop")
        assert not _answers("127.0.0.1", port)
        assert _server_processes(port) == []


def test_a_killed_parent_does_not_leave_an_orphaned_server(tmp_path):
    script = textwrap.dedent(
        """
        import os, sys
        from ttc_plugins.local import local_server
        with local_server() as url:
            print(url, flush=True)
            os._exit(9)  # die without any cleanup, as under SIGKILL
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    port = int(out.stdout.strip().rsplit(":", 1)[1].split("/")[0])
    for _ in range(40):  # the watchdog checks twice a second
        if not _answers("127.0.0.1", port):
            break
        time.sleep(0.25)
    assert not _answers("127.0.0.1", port)


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(LocalModelError, match="model file not found"), local_server(tmp_path / "nope.gguf"):
        pass


def test_a_missing_server_install_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    with pytest.raises(LocalModelError, match=r"missing: uvicorn.*ttc-plugins\[local\]"), local_server():
        pass


def test_the_demo_runs_to_completion_against_the_embedded_server(local_base_url, capsys):
    from ttc_plugins.demo import run_demo

    assert run_demo(base_url=local_base_url, questions=2, samples=3) == 0
    out = capsys.readouterr().out
    assert out.count("  plain answer: ") == 2
    assert out.count("  chosen: ") == 2
    assert len([line for line in out.splitlines() if line.startswith("    #")]) == 2 * 3
    assert "stop: budget;" in out  # the last step shows the budget refusing samples
    report = out[out.index("budget 'demo'") :].splitlines()
    assert report[1].split() == ["role", "calls", "input", "output", "total", "cost"]
    assert {line.split()[0] for line in report[2:-2]} == {"generator", "plain"}


def _ignore_sigint():
    # What a non-interactive shell does to a command it runs in the background ("cmd &").
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_signal", "preexec"),
    [(signal.SIGINT, None), (signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["ctrl-c", "ctrl-c-started-in-background", "sigterm"],
)
def test_ttc_serve_serves_until_ctrl_c_or_sigterm(stop_signal, preexec):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "ttc_plugins.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )
    try:
        first_line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in first_line
        assert _answers("127.0.0.1", port)
    finally:
        server.send_signal(stop_signal)
        try:
            code = server.wait(timeout=90)  # a hang guard: an idle server stops in seconds
        except subprocess.TimeoutExpired:
            server.kill()  # its model server's watchdog follows it out
            raise
    assert code == 0
    assert not _answers("127.0.0.1", port)


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("00_budget_any_chain.py", ["stopped before sending the next call", "budget 'recipe-1'", "verifier"]),
        (
            "01_wrap_a_chain_node.py",
            [
                "all 8 samples:",
                "adaptive: answer",
                "inside a 500-token budget",
                "stop 'budget'",
                "sampled LangGraph node: answer",
                "subgraph in a parent graph: answer",
            ],
        ),
        ("02_best_of_n_with_a_judge.py", ["LLM judge: chose", "verifier 4 calls", "weighted by score: chose"]),
        (
            "03_optimize_with_dspy.py",
            ["before  right", "compile: ", "demos on generate.predict", "saved and reloaded: "],
        ),
        ("04_refine_an_answer.py", ["What is 6 + 3?  -> returned version #", "stop rule: ", "[draft   ]", "critic"]),
        (
            "07_chain_of_draft.py",
            ["CoT vs CoD, one call per question", "CoT vs CoD inside self-consistency", "SC(4) x CoD"],
        ),
        (
            "08_budget_forcing.py",
            ["continuation: completions", "refused when built", "thinking ended", "min 64, re-prompt"],
        ),
        ("06_human_in_the_loop_refine.py", ["-- pause before the edit of round 1", "human:", "stopped: "]),
        ("05_feedback_and_edit_models.py", ["#0 (draft, ", "edit of draft #", "chosen: #", "feedback"]),
    ],
)
def test_cookbook_recipes_run_on_the_embedded_model(local_base_url, recipe, expected):
    from pathlib import Path

    path = Path(__file__).parents[2] / "cookbook" / recipe
    env = {**os.environ, "TTC_BASE_URL": local_base_url, "TTC_MODEL": "smollm2-135m", "TTC_COOKBOOK_ITEMS": "3"}
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for fragment in expected:
        assert fragment in out.stdout


def test_the_readme_tour_runs(local_base_url, monkeypatch, capsys):
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code = readme.split("## A 20-line tour", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("TTC_BASE_URL", local_base_url)
    monkeypatch.setenv("TTC_MODEL", "smollm2-135m")
    exec(compile(code, "README.md tour", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    _answer, stop_reason, tokens = lines[0].rsplit(maxsplit=2)
    assert stop_reason in {"done", "converged", "budget"}
    assert 0 < int(tokens) <= 3_000
