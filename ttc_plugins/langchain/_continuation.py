"""How a LangChain model carries on from its own partial reply: by completions, prefill or re-prompt.

Chat APIs have no raw prompt to extend, so a partial reply (reasoning cut at a cap, a solution's
first steps) is carried in one of three ways:

- ``"completions"``: the true continuation, for a text-completions model (a ``BaseLLM`` such as
  ``langchain_openai.OpenAI`` on ``/v1/completions``) with its ``chat_template``: the conversation is
  rendered as the model's own prompt text with the assistant's turn left open and the partial reply in
  it, so the model goes on writing its own words. llama.cpp, vLLM, Ollama and TGI all serve
  ``/v1/completions``; for the embedded model use ``local_completion_model`` and ``LOCAL_CHAT_TEMPLATE``.
- ``"prefill"``: sent as a trailing assistant message that the chat API continues. Anthropic's API
  does this natively, and vLLM's does with ``continue_final_message=True`` (bind it in ``extra_body``).
- ``"reprompt"``: sent as the assistant's message, followed by a user message asking the model to
  continue it from where it stops. Works with every chat API, at the price of a model that may restart
  or summarise instead of continuing.

``"auto"`` picks by what the model is: completions for a text-completions model, prefill for
Anthropic chat models, re-prompting for every other chat model. Each call sets its own output cap,
so a budget reserves a true worst case. Budget forcing continues its thinking this way; a step-level
search continues a partial solution the same way.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> llm = FakeListChatModel(responses=["5, 6"])
    >>> carry_on = continuing(llm, "reprompt", follow_up="Continue.")
    >>> carry_on.invoke({"conversation": "Count to 6.", "partial": "1, 2, 3, 4,", "max_tokens": 8}).content
    '5, 6'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import Generation
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableLambda

from ttc_plugins.chat_templates import ChatTemplate
from ttc_plugins.langchain._completions import completion_model, continue_with_completions
from ttc_plugins.strategies.candidates import output_text

__all__ = [
    "Continuation",
    "Mode",
    "checked_mode",
    "continuing",
    "conversation_of",
    "supports_prefill",
    "text_and_finish",
]

Continuation = Literal["auto", "completions", "prefill", "reprompt"]
Mode = Literal["completions", "prefill", "reprompt"]

# Chat model classes whose API continues a trailing assistant message (checked by class name, so the
# provider package need not be installed to tell).
_PREFILL_CLASSES = frozenset({"ChatAnthropic", "ChatAnthropicVertex", "ChatBedrockConverse"})
# finish reasons that mean "stopped at the call's output cap" (OpenAI-style, Anthropic-style)
AT_OUTPUT_CAP = frozenset({"length", "max_tokens"})


def _chat_model(llm: Runnable[Any, Any]) -> BaseChatModel | None:
    while isinstance(llm, RunnableBinding):
        llm = llm.bound
    return llm if isinstance(llm, BaseChatModel) else None


def supports_prefill(llm: Runnable[Any, Any]) -> bool:
    """Whether ``llm``'s API is known to continue a trailing assistant message (what ``"auto"`` uses).

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> supports_prefill(FakeListChatModel(responses=["hi"]))
        False
    """
    model = _chat_model(llm)
    return model is not None and any(cls.__name__ in _PREFILL_CLASSES for cls in type(model).__mro__)


def conversation_of(input: Any) -> list[Any]:
    if isinstance(input, str):
        return [("user", input)]
    if isinstance(input, Mapping) and isinstance(input.get("question"), str):
        return [("user", input["question"])]
    if hasattr(input, "to_messages"):
        return list(input.to_messages())
    if isinstance(input, list) and input:
        return list(input)
    raise TypeError(f"a continued call takes a question string, {{'question': str}} or chat messages, got {input!r}")


def text_and_finish(reply: Any) -> tuple[str, str | None]:
    """A continuation's text and finish reason, from a chat message or a completions ``Generation``."""
    if isinstance(reply, Generation):
        return reply.text, (reply.generation_info or {}).get("finish_reason")
    return output_text(reply), (getattr(reply, "response_metadata", None) or {}).get("finish_reason")


def checked_mode(
    llm: Runnable[Any, Any], continuation: Continuation, chat_template: ChatTemplate | None
) -> Literal["completions", "prefill", "reprompt"]:
    """The continuation that ``auto`` stands for, after checking that it fits the model."""
    if continuation not in ("auto", "completions", "prefill", "reprompt"):
        raise ValueError(f"continuation must be 'auto', 'completions', 'prefill' or 'reprompt', got {continuation!r}")
    if completion_model(llm) is not None:
        if continuation not in ("auto", "completions"):
            raise ValueError(f"a text-completions model continues text itself: use 'completions', not {continuation!r}")
        if chat_template is None:
            raise ValueError(
                "a text-completions model needs chat_template= to lay out the conversation, e.g. "
                "ttc_plugins.chat_templates.CHATML for SmolLM2/Qwen or ttc_plugins.local.LOCAL_CHAT_TEMPLATE"
            )
        return "completions"
    if _chat_model(llm) is None:
        raise TypeError(f"a continued call wraps a chat or text-completions model (calls take max_tokens), got {llm!r}")
    if continuation == "completions":
        raise ValueError("continuation='completions' needs a text-completions model (a BaseLLM), not a chat model")
    if chat_template is not None:
        raise ValueError("chat_template= is for text-completions models; a chat model's server applies its own")
    if continuation == "auto":
        return "prefill" if supports_prefill(llm) else "reprompt"
    return continuation


def _capped(llm: Runnable[Any, Any], max_tokens: int | None) -> Runnable[Any, Any]:
    if max_tokens is None:
        return llm
    options: dict[str, Any] = {"max_tokens": max_tokens}
    extra_body = getattr(_chat_model(llm), "extra_body", None)
    if isinstance(extra_body, Mapping) and "max_tokens" in extra_body:
        # local_chat_model also sends the cap in the body, which llama.cpp reads instead of max_tokens
        options["extra_body"] = {**extra_body, "max_tokens": max_tokens}
    return llm.bind(**options)


def continuing(
    llm: Runnable[Any, Any], mode: Mode, *, follow_up: str, chat_template: ChatTemplate | None = None
) -> Runnable[dict[str, Any], Any]:
    """A Runnable over ``{"conversation", "partial", "max_tokens"}`` that returns the model's next words.

    Args:
        llm: the model (checked against ``mode`` with :func:`checked_mode`).
        mode: ``"completions"``, ``"prefill"`` or ``"reprompt"``.
        follow_up: the user message a re-prompted model is sent after its partial reply.
        chat_template: the text-completions model's template (``"completions"`` only).
    """

    def call(payload: dict[str, Any]) -> tuple[Runnable[Any, Any], Any]:
        conversation, partial = conversation_of(payload["conversation"]), payload["partial"]
        if mode == "completions" and chat_template is not None:
            return continue_with_completions(llm, chat_template, max_tokens=payload["max_tokens"]), (
                conversation, partial,
            )  # fmt: skip
        if not partial:
            messages = conversation
        elif mode == "prefill":
            messages = [*conversation, ("assistant", partial)]
        else:
            messages = [*conversation, ("assistant", partial), ("user", follow_up)]
        return _capped(llm, payload["max_tokens"]), messages

    def invoke(payload: dict[str, Any], config: RunnableConfig) -> Any:
        runnable, request = call(payload)
        return runnable.invoke(request, config)

    async def ainvoke(payload: dict[str, Any], config: RunnableConfig) -> Any:
        runnable, request = call(payload)
        return await runnable.ainvoke(request, config)

    return RunnableLambda(invoke, afunc=ainvoke, name="continue")
