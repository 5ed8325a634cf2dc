"""Budget forcing (s1) for any LangChain chat model: "Wait" to think longer, "Final Answer:" at the cap.

Decisions come from :class:`~ttc_plugins.strategies.forcing.ThinkingController`; this shell makes
the calls. Every call sets its own output cap (what is left of the thinking budget, or the answer
cap), so the budget reserves a true worst case, and every call is charged: thinking continuations
to the role "thinking", the forced answer to "answer".

Chat APIs have no raw prompt to extend, so the model's partial reasoning is carried in one of three ways:

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
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import Generation
from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import Field, model_validator

from ttc_plugins.budget import BudgetExceeded
from ttc_plugins.chat_templates import ChatTemplate
from ttc_plugins.langchain._completions import completion_model, continue_with_completions
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.prompts import FORCING_ANSWER_USER, FORCING_CONTINUE_USER
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import output_text
from ttc_plugins.strategies.forcing import ForcingRules, ThinkingController
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetForcing", "Continuation", "budget_forcing", "supports_prefill"]

Continuation = Literal["auto", "completions", "prefill", "reprompt"]

# Chat model classes whose API continues a trailing assistant message (checked by class name, so the
# provider package need not be installed to tell).
_PREFILL_CLASSES = frozenset({"ChatAnthropic", "ChatAnthropicVertex", "ChatBedrockConverse"})
# finish reasons that mean "stopped at the call's output cap" (OpenAI-style, Anthropic-style)
_AT_OUTPUT_CAP = frozenset({"length", "max_tokens"})


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


def _conversation(input: Any) -> list[Any]:
    if isinstance(input, str):
        return [("user", input)]
    if isinstance(input, Mapping) and isinstance(input.get("question"), str):
        return [("user", input["question"])]
    if hasattr(input, "to_messages"):
        return list(input.to_messages())
    if isinstance(input, list) and input:
        return list(input)
    raise TypeError(f"budget_forcing takes a question string, {{'question': str}} or chat messages, got {input!r}")


def _text_and_finish(reply: Any) -> tuple[str, str | None]:
    """A continuation's text and finish reason, from a chat message or a completions ``Generation``."""
    if isinstance(reply, Generation):
        return reply.text, (reply.generation_info or {}).get("finish_reason")
    return output_text(reply), (getattr(reply, "response_metadata", None) or {}).get("finish_reason")


class BudgetForcing(SteppedStrategy):
    """Thinks between the token limits, then forces the answer (build with :func:`budget_forcing`)."""

    llm: Runnable[Any, Any]
    rules: ForcingRules
    continuation: Literal["completions", "prefill", "reprompt"]
    chat_template: ChatTemplate | None = None
    count: Callable[[str], int] = count_tokens
    name: str | None = Field(default="budget_forcing")

    @model_validator(mode="after")
    def _continuation_fits_the_model(self) -> BudgetForcing:
        # Also when built directly rather than through budget_forcing(): a mismatch fails here, not mid-run.
        _checked_continuation(self.llm, self.continuation, self.chat_template)
        return self

    def _capped(self, max_tokens: int | None) -> Runnable[Any, Any]:
        if max_tokens is None:
            return self.llm
        options: dict[str, Any] = {"max_tokens": max_tokens}
        model = _chat_model(self.llm)
        extra_body = getattr(model, "extra_body", None)
        if isinstance(extra_body, Mapping) and "max_tokens" in extra_body:
            # local_chat_model also sends the cap in the body, which llama.cpp reads instead of max_tokens
            options["extra_body"] = {**extra_body, "max_tokens": max_tokens}
        return self.llm.bind(**options)

    def _call(
        self, conversation: list[Any], partial: str, follow_up: str, max_tokens: int | None
    ) -> tuple[Runnable[Any, Any], Any]:
        """The Runnable and payload of one call that carries on from ``partial``."""
        if self.continuation == "completions" and self.chat_template is not None:  # both checked when built
            return continue_with_completions(self.llm, self.chat_template, max_tokens=max_tokens), (
                conversation,
                partial,
            )
        if not partial:
            messages = conversation
        elif self.continuation == "prefill":
            messages = [*conversation, ("assistant", partial)]
        else:
            messages = [*conversation, ("assistant", partial), ("user", follow_up)]
        return self._capped(max_tokens), messages

    def _continued(self, partial: str, text: str) -> str:
        # A prefilled model writes its own leading space; a re-prompted one starts a fresh message,
        # so "Wait" and the next words need one put back between them.
        glued = partial and text and not partial[-1].isspace() and not text[0].isspace() and text[0] not in ",.;:!?)"
        return " " + text if self.continuation == "reprompt" and glued else text

    def _loop(self, input: Any) -> StrategyLoop:
        conversation = _conversation(input)
        controller = ThinkingController(self.rules, count=self.count)
        step = "think"
        while step == "think":
            runnable, payload = self._call(
                conversation, controller.thinking, FORCING_CONTINUE_USER, controller.allowance()
            )
            reply = (yield ("thinking", runnable, [payload]))[0]
            if isinstance(reply, BudgetExceeded) and controller.thinking:
                return self._result(controller, stop_reason="budget")
            if isinstance(reply, BaseException):
                raise reply
            text, finish = _text_and_finish(reply)
            step = controller.add_thinking(
                self._continued(controller.thinking, text), hit_output_cap=finish in _AT_OUTPUT_CAP
            )
        runnable, payload = self._call(
            conversation, controller.answer_prefix, FORCING_ANSWER_USER, self.rules.max_answer_tokens
        )
        reply = (yield ("answer", runnable, [payload]))[0]
        if isinstance(reply, BudgetExceeded):
            return self._result(controller, stop_reason="budget")
        if isinstance(reply, BaseException):
            raise reply
        controller.add_answer(_text_and_finish(reply)[0])
        return self._result(controller, stop_reason="done")

    def _result(self, controller: ThinkingController, *, stop_reason: Literal["done", "budget"]) -> TTCResult:
        metadata = {
            "thinking_tokens": controller.thinking_tokens,
            "answer_tokens": controller.answer_tokens,
            "waits": controller.waits,
            "thinking_end": controller.thinking_end,
        }
        message = AIMessage(content=controller.text, response_metadata=metadata)
        candidate = Candidate(index=0, output=message, answer=controller.answer.strip() if controller.answer else None)
        return TTCResult(
            output=message,
            answer=candidate.answer,
            candidates=[candidate],
            chosen=0,
            stop_reason=stop_reason,
            events=list(controller.events),
        )


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
    continuation = _checked_continuation(llm, continuation, chat_template)
    return BudgetForcing(
        llm=llm,
        rules=rules,
        continuation=continuation,
        chat_template=chat_template,
        count=count,
        return_result=return_result,
    )


def _checked_continuation(
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
        raise TypeError(f"budget_forcing() wraps a chat or text-completions model (calls take max_tokens), got {llm!r}")
    if continuation == "completions":
        raise ValueError("continuation='completions' needs a text-completions model (a BaseLLM), not a chat model")
    if chat_template is not None:
        raise ValueError("chat_template= is for text-completions models; a chat model's server applies its own")
    if continuation == "auto":
        return "prefill" if supports_prefill(llm) else "reprompt"
    return continuation
