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

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from ttc_plugins._call_limits import worst_case_output
from ttc_plugins.budget import Budget, BudgetExceeded, current_budget
from ttc_plugins.langchain._open_calls import OpenCalls
from ttc_plugins.prompt_overhead import prompt_overheads
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetCallbackHandler", "calls_in_flight", "settle_calls_left_open"]

logger = logging.getLogger(__name__)
# Shared by every handler, so that two handlers for the same budget (one passed in config, one from
# a budget_scope) charge a run once, not twice.
_open_calls = OpenCalls()


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


class _InvalidUsage(ValueError):
    """The provider reported usage that cannot be a token count (negative, fractional, not a number)."""


def _token_count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _InvalidUsage(f"not a token count: {value!r}")
    return value


def _reported_usage(response: LLMResult) -> tuple[int | None, int | None]:
    """Provider-reported (input, output) tokens for one run, or None where it reported nothing.

    Raises:
        _InvalidUsage: a reported number is not a token count; the caller counts the text instead.
    """
    token_usage = (response.llm_output or {}).get("token_usage") or (response.llm_output or {}).get("usage")
    if isinstance(token_usage, Mapping):
        # OpenAI-style clients report the whole request here; with n > 1 every choice's message
        # repeats the same totals, so this is the one number that is not multiplied by n.
        prompt = token_usage.get("prompt_tokens", token_usage.get("input_tokens"))
        completion = token_usage.get("completion_tokens", token_usage.get("output_tokens"))
        if prompt is not None and completion is not None:
            return _token_count(prompt), _token_count(completion)
    input_tokens: int | None = None
    output_tokens: int | None = None
    for choices in response.generations:
        # One prompt is read once however many choices come back: take its largest input count.
        prompt_input: int | None = None
        for generation in choices:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if not usage or not (usage.get("input_tokens") or usage.get("output_tokens")):
                continue
            prompt_input = max(prompt_input or 0, _token_count(usage.get("input_tokens")))
            output_tokens = (output_tokens or 0) + _token_count(usage.get("output_tokens"))
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
    """Reserve before every LangChain model call; settle the reservation however the call ends.

    Args:
        budget: the budget to charge; None means the budget of the current ``budget_scope`` at the
            time each call starts (calls outside any scope are then not counted).

    A call that answers is charged the usage the provider reported (the counted text where it
    reported none, or reported numbers that are not token counts). A call that fails before any
    output is released. A call that was cut off after it was sent (a stream closed early, a
    cancelled task) is charged its prompt and the text it had streamed; so is a call whose end the
    handler never hears of, once its task finishes or its ``budget_scope`` is left.

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
        counted_prompt: int,
        prompts: int,
        params: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None,
        batch_size: int | None,
    ) -> None:
        scope = current_budget()
        budget = self.budget or scope
        if budget is None or _charged_through(scope, budget) or _open_calls.holds(budget, run_id):
            return  # not counted here, or another handler for this budget already holds this run
        params, metadata = params or {}, metadata or {}
        model = _model_name(params, metadata)
        worst_output = worst_case_output(
            params, default=budget.default_max_output_tokens, fallbacks=(metadata.get("ls_max_tokens"),)
        )
        # langchain-core starts the prompts of one request one after another with the same params
        # object; when one is refused, none of them is sent, so the others must be released.
        batch = id(params) if batch_size and batch_size > 1 else None
        # What the server adds to each prompt (chat template, default system message), as far as known.
        prompt_tokens = counted_prompt + prompts * prompt_overheads.allowance(model)
        try:
            reservation = budget.reserve(prompt_tokens, worst_output, model=model)
        except BudgetExceeded:
            if batch is not None:
                for sibling in _open_calls.pop_batch(budget, batch):
                    sibling.reservation.release(failed=False)
            raise
        _open_calls.open(budget, run_id, reservation, batch=batch, counted_prompt=counted_prompt, prompts=prompts)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = _model_name(params, metadata or {})
        counted = sum(count_tokens(conversation, model) for conversation in messages)
        self._reserve(run_id, counted, len(messages), params, metadata, batch_size)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: Sequence[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = _model_name(params, metadata or {})
        counted = sum(count_tokens(prompt, model) for prompt in prompts)
        self._reserve(run_id, counted, len(prompts), params, metadata, batch_size)

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        # Kept as text and counted once at the end: a stream closed early is charged what it delivered.
        for call in _open_calls.find(run_id):
            call.streamed.append(token)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for call in _open_calls.pop(run_id):
            reservation = call.reservation
            model = _answering_model(response) or reservation.model
            try:
                input_tokens, output_tokens = _reported_usage(response)
            except _InvalidUsage as bad:
                logger.warning("%s reported usage that is not a token count (%s); counted the text", model, bad)
                input_tokens, output_tokens = None, None
            if output_tokens is None:
                output_tokens = _counted_output(response, model)
            if input_tokens is not None:
                prompt_overheads.learn(
                    reservation.model, counted=call.counted_prompt, reported=input_tokens, prompts=call.prompts
                )
            reservation.commit(input_tokens, output_tokens, model=model)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        usage = _usage_in_error(error)
        for call in _open_calls.pop(run_id):
            if usage is not None:
                # The model answered and the client raised afterwards (e.g. the reply hit the length
                # limit before a structured output could be parsed): those tokens were spent.
                call.reservation.commit(*usage)
            elif call.streamed or isinstance(error, GeneratorExit | asyncio.CancelledError):
                call.settle_abandoned()  # sent, then cut off: a stream closed early, a cancelled call
            else:
                call.reservation.release(failed=True)


def settle_calls_left_open(budget: Budget) -> None:
    """Settle the calls of ``budget`` that nobody will hear the end of, as its ``budget_scope`` closes.

    Those are the calls started by the code leaving the scope (its block is over, so they are too)
    and calls whose task or thread has finished. Calls still running elsewhere are left to end.
    """
    for call in _open_calls.pop_left_by(budget):
        call.settle_abandoned()


def calls_in_flight(budget: Budget) -> int:
    """How many LangChain calls of ``budget`` the handlers hold open (for tests and diagnostics)."""
    return _open_calls.in_flight(budget)
