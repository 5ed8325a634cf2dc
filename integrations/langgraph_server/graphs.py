"""ttc-plugins strategy graphs, served by LangGraph Server (`langgraph dev`) to Studio and the SDK.

Run (from this folder, after `make install`: paths in langgraph.json resolve against the working directory):

    LANGSMITH_TRACING=false LANGGRAPH_CLI_NO_ANALYTICS=1 ../../.venv/bin/langgraph dev \\
        --host 127.0.0.1 --port 2024 --no-browser

Then, e.g. with the SDK:

    from langgraph_sdk import get_sync_client
    client = get_sync_client(url="http://127.0.0.1:2024")
    client.runs.wait(None, "self_consistency", input={"question": "What is 5 + 8?"})

The graphs answer with the embedded SmolLM2-135M by default (its server is started once, on loopback,
for the life of this process) or with any OpenAI-compatible endpoint given by ``TTC_BASE_URL`` and
``TTC_MODEL`` (and ``OPENAI_API_KEY``). ``TTC_SAMPLES`` sets how many samples a graph draws (8). The
best-of-N judge asks llama.cpp's server for its JSON as a grammar; on a server that does not take
that (``TTC_JUDGE_GRAMMAR=0``) it reads the judge's text instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ttc_plugins.langchain import llm_judge
from ttc_plugins.langgraph import create_best_of_n_graph, create_self_consistency_graph
from ttc_plugins.local import endpoint_from_env, local_chat_model, local_judge_model, local_server
from ttc_plugins.prompts import ANSWER_FORMAT


def _endpoint() -> tuple[str, str]:
    base_url, model = endpoint_from_env()
    if base_url:
        return base_url, model
    # One embedded server for this process; the URL goes into the environment so that a hot reload
    # of this module reuses it instead of starting another.
    stack = contextlib.ExitStack()
    base_url = stack.enter_context(local_server(model_alias=model))
    atexit.register(stack.close)
    os.environ["TTC_BASE_URL"], os.environ["TTC_MODEL"] = base_url, model
    return base_url, model


BASE_URL, MODEL = _endpoint()
SAMPLES = int(os.environ.get("TTC_SAMPLES", "8"))

_prompt = ChatPromptTemplate.from_messages([("user", "{question} " + ANSWER_FORMAT)])
_sampler = _prompt | local_chat_model(BASE_URL, model=MODEL, temperature=0.7, max_tokens=128) | StrOutputParser()


def _sample(question: str) -> str:
    return _sampler.invoke({"question": question})


def _judge_model():
    # On the embedded model (llama.cpp) a JSON grammar makes the judge's replies always parse.
    if os.environ.get("TTC_JUDGE_GRAMMAR", "1") == "0":
        return local_chat_model(BASE_URL, model=MODEL, temperature=0.0, max_tokens=120)
    return local_judge_model(BASE_URL, model=MODEL)


# Input {"question": ...}; output {"answer": ..., "candidates": [...], "result": {...}}.
self_consistency = create_self_consistency_graph(_sample, n=SAMPLES, name="self_consistency")
best_of_n = create_best_of_n_graph(_sample, llm_judge(_judge_model(), structured=False), n=SAMPLES, name="best_of_n")
