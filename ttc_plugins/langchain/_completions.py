"""Continue a chat reply through a text-completions model: the prefill path where chat APIs have none.

The conversation is rendered with the model's chat template and the partial reply appended with the
assistant's turn left open (:mod:`ttc_plugins.chat_templates`), then sent to a LangChain ``BaseLLM``
(``langchain_openai.OpenAI`` on ``/v1/completions``, or any other). The call goes through the model's
own ``generate_prompt`` so callbacks, tags, metadata and the budget see a normal LLM run, and it
returns the ``Generation``, whose ``generation_info`` holds the finish reason that ``invoke`` drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseLLM
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.outputs import Generation
from langchain_core.prompt_values import StringPromptValue
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableLambda

from ttc_plugins.chat_templates import ChatTemplate

__all__ = ["chat_pairs", "completion_model", "continue_with_completions"]

_ROLE_OF_TYPE = {"human": "user", "ai": "assistant", "system": "system"}


def completion_model(llm: Runnable[Any, Any]) -> tuple[BaseLLM, dict[str, Any]] | None:
    """The text-completions model inside ``llm`` and the options bound around it, or None if it is none."""
    bound: dict[str, Any] = {}
    while isinstance(llm, RunnableBinding):
        bound = {**llm.kwargs, **bound}  # the outermost binding wins, as it would in a call
        llm = llm.bound
    return (llm, bound) if isinstance(llm, BaseLLM) else None


def chat_pairs(conversation: Sequence[Any]) -> list[tuple[str, str]]:
    """``(role, text)`` pairs of a conversation given as LangChain messages or ``(role, text)`` tuples.

    Raises:
        ValueError: a message that is not a system, user or assistant message (tools have no place
            in a rendered continuation prompt).
    """
    pairs = []
    for message in convert_to_messages(list(conversation)):
        role = _ROLE_OF_TYPE.get(message.type) if isinstance(message, BaseMessage) else None
        if role is None:
            raise ValueError(f"cannot render a {message.type!r} message with a chat template; use system/user/ai")
        pairs.append((role, message.text))
    return pairs


def continue_with_completions(
    llm: Runnable[Any, Any], template: ChatTemplate, *, max_tokens: int | None
) -> Runnable[tuple[Sequence[Any], str], Generation]:
    """A Runnable that takes ``(conversation, partial)`` and returns the model's continuation of ``partial``.

    Args:
        llm: a text-completions model (a ``BaseLLM``, possibly with bound options).
        template: the model's chat template; its end-of-turn strings are sent as stop sequences.
        max_tokens: the output cap of the call (None: the model's own).
    """
    found = completion_model(llm)
    if found is None:
        raise TypeError(f"continuing through completions needs a text-completions model (a BaseLLM), got {llm!r}")
    model, bound = found
    options = {**bound, **({} if max_tokens is None else {"max_tokens": max_tokens})}
    stop = list(dict.fromkeys([*(options.pop("stop", None) or []), *template.stop]))

    def _arguments(payload: tuple[Sequence[Any], str], config: RunnableConfig) -> dict[str, Any]:
        conversation, partial = payload
        return {
            "prompts": [StringPromptValue(text=template.render(chat_pairs(conversation), partial))],
            "stop": stop,
            "callbacks": config.get("callbacks"),
            "tags": config.get("tags"),
            "metadata": config.get("metadata"),
            **options,
        }

    def complete(payload: tuple[Sequence[Any], str], config: RunnableConfig) -> Generation:
        return model.generate_prompt(**_arguments(payload, config)).generations[0][0]

    async def acomplete(payload: tuple[Sequence[Any], str], config: RunnableConfig) -> Generation:
        return (await model.agenerate_prompt(**_arguments(payload, config))).generations[0][0]

    return RunnableLambda(complete, afunc=acomplete, name="continue_completion")
