"""Real LangChain and DSPy clients for an OpenAI-compatible server, with what local servers need."""

from __future__ import annotations

from typing import Any

from ttc_plugins._extras import prefer_offline, require
from ttc_plugins.chat_templates import chatml
from ttc_plugins.local._endpoint import api_key_for, endpoint_from_env, is_loopback
from ttc_plugins.local._loop_local_http import loop_local_async_client
from ttc_plugins.local._server import DEFAULT_MODEL
from ttc_plugins.prompt_overhead import prompt_overheads

__all__ = [
    "LOCAL_CHAT_TEMPLATE",
    "local_chat_model",
    "local_completion_model",
    "local_dspy_lm",
    "local_judge_model",
]

LOCAL_CHAT_TEMPLATE = chatml("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
"""The embedded model's chat template (ChatML with SmolLM2's default system message, as in its GGUF
metadata), for continuing its replies through :func:`local_completion_model`."""


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
    if not is_loopback(base_url):
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
    :mod:`ttc_plugins.local._loop_local_http`, docs/local_model.md).
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
        api_key=api_key_for(base_url),
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
        base_url=base_url, model=model or endpoint_from_env()[1], api_key=api_key_for(base_url), **options
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
        f"openai/{name}",
        api_base=base_url,
        api_key=api_key_for(base_url),
        **_with_local_server_options(base_url, options),
    )
