"""Count and stop LangChain model calls against a :class:`~ttc_plugins.Budget`.

The handler reserves each call's worst case when the model starts, commits the usage the provider
reported when it ends (the counted text where it reported none), and releases the reservation when
the call fails. Because it raises from ``on_chat_model_start`` with ``raise_error=True``, a call that
does not fit is never sent.

Inside ``budget_scope(budget)`` it is registered automatically for every run, so an existing chain
needs no changes. Outside a scope, pass it yourself:

Example:
    >>> from ttc_plugins import Budget
    >>> from ttc_plugins.langchain import BudgetCallbackHandler
    >>> budget = Budget(max_total_tokens=5_000)
    >>> handler = BudgetCallbackHandler(budget)
    >>> # chain.invoke(inputs, config={"callbacks": [handler]})
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from ttc_plugins.budget import Budget, Reservation, current_budget
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetCallbackHandler"]

# Names different integrations give the output cap, in invocation params or LangSmith metadata.
_MAX_OUTPUT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "num_predict")

# Open reservations by (budget, run). Shared by all handler instances so that two handlers for the
# same budget (one passed in config, one from a budget_scope) charge a run once, not twice.
_open: dict[tuple[int, UUID], Reservation] = {}
_open_lock = threading.Lock()


class _QuietRefusals(logging.Filter):
    """Drop langchain-core's "Error in ... callback" warning for our own refusals.

    A refusal reaches the caller as a BudgetExceeded exception anyway; logging it as a callback error as
    well would make every budget stop look like a bug. Any other error in the handler is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        ours = len(args) == 3 and args[0] == "BudgetCallbackHandler"
        return not (ours and str(args[2]).startswith("BudgetExceeded("))


logging.getLogger("langchain_core.callbacks.manager").addFilter(_QuietRefusals())


def _charged_through(scope: Budget | None, budget: Budget) -> bool:
    """Whether calls made in ``scope`` already reach ``budget`` because scope is a child of it.

    A strategy runs its samples under a child of the caller's budget; the caller's handler is still
    attached to those runs (callbacks are inherited), and charging both would count the call twice.
    """
    return scope is not None and scope is not budget and scope.is_within(budget)


def _model_name(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    for key in ("model", "model_name", "model_id"):
        if isinstance(params.get(key), str):
            return params[key]
    name = metadata.get("ls_model_name") or params.get("_type")
    return name if isinstance(name, str) else None


def _max_output_tokens(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> int | None:
    for key in _MAX_OUTPUT_KEYS:
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    value = metadata.get("ls_max_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _reported_usage(response: LLMResult) -> tuple[int | None, int | None]:
    """Provider-reported (input, output) tokens for one run, or None where it reported nothing."""
    token_usage = (response.llm_output or {}).get("token_usage") or (response.llm_output or {}).get("usage")
    if isinstance(token_usage, Mapping):
        # OpenAI-style clients report the whole request here; with n > 1 every choice's message
        # repeats the same totals, so this is the one number that is not multiplied by n.
        prompt = token_usage.get("prompt_tokens", token_usage.get("input_tokens"))
        completion = token_usage.get("completion_tokens", token_usage.get("output_tokens"))
        if isinstance(prompt, int) and isinstance(completion, int):
            return prompt, completion
    input_tokens: int | None = None
    output_tokens: int | None = None
    for choices in response.generations:
        # One prompt is read once however many choices come back: take its largest input count.
        prompt_input: int | None = None
        for generation in choices:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if not usage or not (usage.get("input_tokens") or usage.get("output_tokens")):
                continue
            prompt_input = max(prompt_input or 0, int(usage.get("input_tokens", 0)))
            output_tokens = (output_tokens or 0) + int(usage.get("output_tokens", 0))
        if prompt_input is not None:
            input_tokens = (input_tokens or 0) + prompt_input
    return input_tokens, output_tokens


def _usage_in_error(error: BaseException) -> tuple[int, int] | None:
    """(input, output) tokens of a reply the client received and then raised about, if it says so.

    The OpenAI client's ``LengthFinishReasonError`` and ``ContentFilterFinishReasonError`` carry the
    completion, usage included, of a reply that was generated (and billed) but could not be parsed.

    Example:
        >>> from types import SimpleNamespace
        >>> reply = SimpleNamespace(usage=SimpleNamespace(prompt_tokens=198, completion_tokens=120))
        >>> error = RuntimeError("length limit reached"); error.completion = reply
        >>> _usage_in_error(error), _usage_in_error(ConnectionError("refused"))
        ((198, 120), None)
    """
    usage = getattr(getattr(error, "completion", None), "usage", None)
    prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


def _counted_output(response: LLMResult, model: str | None) -> int:
    total = 0
    for choices in response.generations:
        for generation in choices:
            total += count_tokens(generation.text or "", model)
            message = getattr(generation, "message", None)
            for call in getattr(message, "tool_calls", None) or []:
                total += count_tokens(str(call.get("name", "")) + str(call.get("args", "")), model)
    return total


def _answering_model(response: LLMResult) -> str | None:
    for choices in response.generations:
        for generation in choices:
            metadata = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
            name = metadata.get("model_name") or metadata.get("model")
            if isinstance(name, str):
                return name
    name = (response.llm_output or {}).get("model_name")
    return name if isinstance(name, str) else None


class BudgetCallbackHandler(BaseCallbackHandler):
    """Reserve before every LangChain model call, commit its usage after, release it on error.

    Args:
        budget: the budget to charge; None means the budget of the current ``budget_scope`` at the
            time each call starts (calls outside any scope are then not counted).

    ``raise_error`` is True so that a refused call raises :class:`~ttc_plugins.BudgetExceeded` to the
    caller instead of being logged, and ``run_inline`` keeps the reservation on the calling thread
    before the request is sent.
    """

    raise_error = True
    run_inline = True

    def __init__(self, budget: Budget | None = None) -> None:
        super().__init__()
        self.budget = budget

    def _reserve(
        self,
        run_id: UUID,
        prompt_tokens: int,
        params: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        scope = current_budget()
        budget = self.budget or scope
        if budget is None or _charged_through(scope, budget):
            return
        key = (id(budget), run_id)
        with _open_lock:
            if key in _open:  # another handler for this budget already holds this run
                return
        params, metadata = params or {}, metadata or {}
        model = _model_name(params, metadata)
        cap = _max_output_tokens(params, metadata) or budget.default_max_output_tokens
        choices = params.get("n") if isinstance(params.get("n"), int) and params.get("n", 1) > 1 else 1
        reservation = budget.reserve(prompt_tokens, cap * choices, model=model)
        with _open_lock:
            _open[key] = reservation

    def _pop(self, run_id: UUID) -> list[Reservation]:
        with _open_lock:
            keys = [key for key in _open if key[1] == run_id]
            return [_open.pop(key) for key in keys]

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = _model_name(params, metadata or {})
        prompt_tokens = sum(count_tokens(conversation, model) for conversation in messages)
        self._reserve(run_id, prompt_tokens, params, metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: Sequence[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = _model_name(params, metadata or {})
        self._reserve(run_id, sum(count_tokens(prompt, model) for prompt in prompts), params, metadata)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for reservation in self._pop(run_id):
            model = _answering_model(response) or reservation.model
            input_tokens, output_tokens = _reported_usage(response)
            if output_tokens is None:
                output_tokens = _counted_output(response, model)
            reservation.commit(input_tokens, output_tokens, model=model)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        usage = _usage_in_error(error)
        for reservation in self._pop(run_id):
            if usage is None:
                reservation.release(failed=True)
            else:
                # The model answered and the client raised afterwards (e.g. the reply hit the length
                # limit before a structured output could be parsed): those tokens were spent.
                reservation.commit(*usage)
