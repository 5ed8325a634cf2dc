"""Budget forcing (s1) for any LangChain chat model: "Wait" to think longer, "Final Answer:" at the cap.

Decisions come from :func:`~ttc_plugins.strategies.forcing.forcing_loop`; this shell binds its
``think`` and ``answer`` calls to the model, continued from its own partial reasoning
(:mod:`ttc_plugins.langchain._continuation`). Every call sets its own output cap (what is left of the
thinking budget, or the answer cap), so the budget reserves a true worst case, and every call is
charged: thinking continuations to the role "thinking", the forced answer to "answer".

The partial reasoning is carried in one of three ways:

- ``"completions"``: the true continuation, for a text-completions model (a ``BaseLLM`` such as
  ``langchain_openai.OpenAI`` on ``/v1/completions``) with its ``chat_template``: the conversation is
  rendered as the model's own prompt text with the assistant's turn left open and the partial reply in
  it, so the model goes on writing its own words, as in s1. llama.cpp, vLLM, Ollama and TGI all serve
  ``/v1/completions``; for the embedded model use ``local_completion_model`` and ``LOCAL_CHAT_TEMPLATE``.
- ``"prefill"``: sent as a trailing assistant message that the chat API continues. Anthropic's API
  does this natively, and vLLM's does with ``continue_final_message=True`` (bind it in ``extra_body``).
- ``"reprompt"``: sent as the assistant's message, followed by a user message asking the model to
  continue it from where it stops (or, at the end, to give only the final answer). Works with every
  chat API, at the price of a model that may restart or summarise instead of continuing.

``"auto"`` (the default) picks by what ``llm`` is: completions for a text-completions model, prefill
for Anthropic chat models, re-prompting for every other chat model. Measured on the embedded model
(llama-cpp-python's server): its chat endpoint closes a trailing assistant message and starts a new
reply, and ignores vLLM's flags, so its chat model re-prompts and its completions model continues.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> llm = FakeListChatModel(responses=["3 + 4 = 7.", "Let me check it again: yes, 7.", "7"])
    >>> solver = budget_forcing(llm, min_thinking_tokens=10, max_thinking_tokens=100, max_waits=1)
    >>> print(solver.invoke("What is 3 + 4?").content)
    3 + 4 = 7. Wait Let me check it again: yes, 7.
    Final Answer: 7
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from pydantic import Field, model_validator

from ttc_plugins._runnables import Binding
from ttc_plugins.chat_templates import ChatTemplate
from ttc_plugins.langchain._continuation import (
    AT_OUTPUT_CAP,
    Continuation,
    Mode,
    checked_mode,
    continuing,
    supports_prefill,
    text_and_finish,
)
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.prompts import FORCING_ANSWER_USER, FORCING_CONTINUE_USER
from ttc_plugins.strategies import forcing
from ttc_plugins.strategies.forcing import ForcingRules, ThinkingController
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetForcing", "Continuation", "budget_forcing", "supports_prefill"]


def _continued(reply: Any) -> forcing.Continuation:
    text, finish = text_and_finish(reply)
    return forcing.Continuation(text, at_output_cap=finish in AT_OUTPUT_CAP, reply=reply)


def _message(controller: ThinkingController, reply: Any) -> AIMessage:
    """The run's output: the thinking, "Final Answer:" and the answer, with the counts in its metadata."""
    metadata = {
        "thinking_tokens": controller.thinking_tokens, "answer_tokens": controller.answer_tokens,
        "waits": controller.waits, "thinking_end": controller.thinking_end,
    }  # fmt: skip
    return AIMessage(content=controller.text, response_metadata=metadata)


class BudgetForcing(SteppedStrategy):
    """Thinks between the token limits, then forces the answer (build with :func:`budget_forcing`)."""

    llm: Runnable[Any, Any]
    rules: ForcingRules
    continuation: Mode
    chat_template: ChatTemplate | None = None
    count: Callable[[str], int] = count_tokens
    name: str | None = Field(default="budget_forcing")

    @model_validator(mode="after")
    def _continuation_fits_the_model(self) -> BudgetForcing:
        # Also when built directly rather than through budget_forcing(): a mismatch fails here, not mid-run.
        checked_mode(self.llm, self.continuation, self.chat_template)
        return self

    def _bindings(self) -> Mapping[str, Binding]:
        def carry_on(follow_up: str, partial_key: str) -> Binding:
            runnable = continuing(self.llm, self.continuation, follow_up=follow_up, chat_template=self.chat_template)
            return Binding(runnable, render=lambda p: {**p, "partial": p[partial_key]}, read=_continued)

        return {
            "think": carry_on(FORCING_CONTINUE_USER, "thinking"),
            "answer": carry_on(FORCING_ANSWER_USER, "answer_prefix"),
        }

    def _loop(self, input: Any) -> StrategyLoop:
        # A re-prompted model starts a fresh message: the space before its next words must be put back.
        rejoin = self.continuation == "reprompt"
        core = forcing.forcing_loop(input, rules=self.rules, output_of=_message, count=self.count, rejoin=rejoin)
        return (yield from core)


def budget_forcing(
    llm: Runnable[Any, Any],
    *,
    min_thinking_tokens: int = 0,
    max_thinking_tokens: int | None = None,
    max_waits: int = 0,
    max_answer_tokens: int | None = None,
    continuation: Continuation = "auto",
    chat_template: ChatTemplate | None = None,
    count: Callable[[str], int] = count_tokens,
    return_result: bool = False,
) -> BudgetForcing:
    """Wrap a model so it thinks at least ``min_thinking_tokens`` and at most ``max_thinking_tokens``.

    The Runnable takes a question string, ``{"question": ...}`` or chat messages, and returns an
    ``AIMessage`` with the thinking, "Final Answer:" and the answer; its ``response_metadata`` has
    ``thinking_tokens``, ``answer_tokens``, ``waits`` and ``thinking_end`` (why thinking ended).

    Args:
        llm: a chat model, or a text-completions model with ``chat_template`` (either possibly with
            bound options), whose calls accept ``max_tokens``.
        min_thinking_tokens: a model that stops thinking earlier gets "Wait" appended and continues.
        max_thinking_tokens: thinking is cut at exactly this many tokens and the answer is forced.
        max_waits: the most times "Wait" is appended.
        max_answer_tokens: the output cap of the answer call (None: the model's own).
        continuation: ``"completions"``, ``"prefill"``, ``"reprompt"`` or ``"auto"`` (see the module docstring).
        chat_template: the text-completions model's chat template (e.g. ``CHATML``, ``LOCAL_CHAT_TEMPLATE``);
            needed for, and only for, ``"completions"``.
        count: the token counter the limits are measured with.
        return_result: return the TTCResult (events: each continuation, each Wait, why thinking ended).

    Raises:
        ValueError: bad limits (see :class:`~ttc_plugins.strategies.forcing.ForcingRules`), an unknown
            continuation, or one that does not fit ``llm`` and ``chat_template``.
        TypeError: ``llm`` is neither a chat model nor a text-completions model.
        BudgetExceeded: the budget could not pay for the first call (later refusals return the
            thinking so far with ``stop_reason="budget"``).
    """
    rules = ForcingRules(
        min_thinking_tokens=min_thinking_tokens,
        max_thinking_tokens=max_thinking_tokens,
        max_waits=max_waits,
        max_answer_tokens=max_answer_tokens,
    )
    mode = checked_mode(llm, continuation, chat_template)
    return BudgetForcing(
        llm=llm,
        rules=rules,
        continuation=mode,
        chat_template=chat_template,
        count=count,
        return_result=return_result,
    )
