"""Draw k samples from any Runnable, in parallel, keeping failures as values.

``runnable.batch([input] * k, config, return_exceptions=True)`` does the work: it honours the
caller's ``max_concurrency`` and hands every sample the caller's callbacks, tags and metadata. A
sample the budget refuses comes back as a ``BudgetExceeded`` value, so the run keeps what it has.

A chat model that takes ``n=`` (OpenAI-style) is first asked for all k choices in one request. Some
servers (llama.cpp's among them) accept ``n`` and silently return one choice, so the number of
choices is checked and the rest are sampled one by one; a model that came back short once is not
asked for ``n`` again by the same strategy.

Each sample sampled one by one runs in its own child budget (a "sample" run in traces), so its
candidate gets its exact tokens even when the chain ends in a parser and returns plain text. The
``n=`` choices of one request share one usage figure and get none each.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ttc_plugins._runnables import metered
from ttc_plugins.budget import BudgetExceeded

__all__ = ["ProviderN", "asample", "sample"]


class ProviderN:
    """Remembers, per strategy, whether the wrapped chat model really honours ``n=``."""

    def __init__(self, enabled: bool) -> None:
        self._works = enabled
        self._lock = threading.Lock()

    def applies_to(self, runnable: Runnable[Any, Any], k: int) -> bool:
        with self._lock:
            works = self._works
        return works and k > 1 and isinstance(runnable, BaseChatModel) and "n" in type(runnable).model_fields

    def record(self, asked: int, got: int) -> None:
        if got < asked:
            with self._lock:
                self._works = False


def _callback_options(config: RunnableConfig) -> dict[str, Any]:
    return {
        "callbacks": config.get("callbacks"),
        "tags": config.get("tags"),
        "metadata": config.get("metadata"),
        "run_name": config.get("run_name"),
    }


def _choices(result: Any) -> list[BaseMessage]:
    messages = [generation.message for generation in result.generations[0]]
    if len(messages) > 1:
        # Every choice repeats the whole request's usage; per-candidate tokens would be n-fold wrong.
        messages = [m.model_copy(update={"usage_metadata": None}) for m in messages]
    return messages


def sample(runnable: Runnable[Any, Any], input: Any, configs: list[RunnableConfig], provider_n: ProviderN) -> list[Any]:
    """One output of ``runnable`` on ``input`` per config (exceptions in place of failed samples).

    The configs are the samples' own (their run names and metadata); one ``n=`` request goes out under
    the first one.
    """
    k, outputs = len(configs), []
    if provider_n.applies_to(runnable, k):
        try:
            prompt = runnable._convert_input(input)  # what invoke() itself does with chat input
            outputs = _choices(runnable.generate_prompt([prompt], n=k, **_callback_options(configs[0])))
            provider_n.record(k, len(outputs))
        except BudgetExceeded:
            outputs = []  # k choices at once may not fit where fewer single samples still do
        except Exception:
            provider_n.record(k, 0)  # the provider rejected n: sample one by one from now on
            outputs = []
    missing = configs[len(outputs) :]
    if missing:
        outputs += metered(runnable).batch([input] * len(missing), missing, return_exceptions=True)
    return outputs[:k]


async def asample(
    runnable: Runnable[Any, Any], input: Any, configs: list[RunnableConfig], provider_n: ProviderN
) -> list[Any]:
    """The async twin of :func:`sample`."""
    k, outputs = len(configs), []
    if provider_n.applies_to(runnable, k):
        try:
            prompt = runnable._convert_input(input)
            outputs = _choices(await runnable.agenerate_prompt([prompt], n=k, **_callback_options(configs[0])))
            provider_n.record(k, len(outputs))
        except BudgetExceeded:
            outputs = []
        except Exception:
            provider_n.record(k, 0)  # the provider rejected n: sample one by one from now on
            outputs = []
    missing = configs[len(outputs) :]
    if missing:
        outputs += await metered(runnable).abatch([input] * len(missing), missing, return_exceptions=True)
    return outputs[:k]
