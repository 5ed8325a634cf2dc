"""LangGraph Server (`langgraph dev`, in-memory, loopback only) serving the strategy graphs to the SDK."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "integrations" / "langgraph_server" / "langgraph.json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def langgraph_server(local_base_url, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("langgraph")
    port = _free_port()
    env = {
        **os.environ,
        "TTC_BASE_URL": local_base_url,
        "TTC_MODEL": "smollm2-135m",
        "TTC_SAMPLES": "3",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    # A copy of the integration in a temporary folder: the server resolves paths against its working
    # directory and keeps its state (.langgraph_api/) there.
    served = tmp_path / "langgraph_server"
    shutil.copytree(CONFIG.parent, served, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
    langgraph = Path(sys.executable).parent / "langgraph"
    command = [str(langgraph), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"]
    log = (tmp_path / "langgraph.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=served)
    url = f"http://127.0.0.1:{port}"
    try:
        client = get_sync_client(url=url)
        for _ in range(120):
            if server.poll() is not None:
                raise RuntimeError(f"langgraph dev exited:\n{(tmp_path / 'langgraph.log').read_text()[-3000:]}")
            try:
                client.assistants.search(limit=1)
                break
            except Exception:
                time.sleep(0.5)
        yield client
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_self_consistency_graph_runs_through_the_sdk(langgraph_server):
    assistants = {a["graph_id"] for a in langgraph_server.assistants.search(limit=20)}
    assert {"self_consistency", "best_of_n"} <= assistants
    output = langgraph_server.runs.wait(None, "self_consistency", input={"question": "What is 2 + 3?"})
    assert len(output["candidates"]) == 3
    assert output["result"]["stop_reason"] == "done"
    assert output["result"]["spend"]["calls"] == 3
    assert output["answer"] == output["result"]["answer"]


def test_the_best_of_n_graph_runs_through_the_sdk(langgraph_server):
    output = langgraph_server.runs.wait(None, "best_of_n", input={"question": "What is 2 + 3?"})
    assert len(output["candidates"]) == 3
    assert output["result"]["spend"]["by_role"]["verifier"]["calls"] == 3
    chosen = output["result"]["chosen"]
    assert output["candidates"][chosen]["score"] == max(
        c["score"] for c in output["candidates"] if c["score"] is not None
    )
