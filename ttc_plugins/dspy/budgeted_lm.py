"""A ``dspy.BaseLM`` that enforces a :class:`~ttc_plugins.Budget` on every call of the LM it wraps.

DSPy swallows exceptions raised in callbacks, so a callback can count but never stop a call; the
check has to sit where the call is made. ``BudgetedLM`` reserves the worst case, calls the wrapped LM
(its cache, retries, history and callbacks all work as before), then commits the usage the provider
reported for that very call and releases the rest.

The usage is read from a private ``UsageTracker`` installed for the duration of the call, because
``lm.history[-1]`` is shared between threads and may belong to another call by the time it is read.
Whatever lands there is passed on to the caller's own tracker, so ``track_usage`` keeps working.

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> from ttc_plugins import Budget
    >>> from ttc_plugins.dspy import BudgetedLM
    >>> budget = Budget(max_calls=1)
    >>> lm = BudgetedLM(DummyLM([{"answer": "4"}]), budget)
    >>> with dspy.context(lm=lm):
    ...     dspy.Predict("question -> answer")(question="2+2?").answer
    '4'
    >>> budget.spent.calls
    1
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import dspy
from dspy.lm15 import Request
from dspy.utils.usage_tracker import UsageTracker

try:  # DSPy 3.4 warns when a message list reaches an LM from anywhere but its own adapter call.
    from dspy.clients._deprecation import _adapter_call, adapter_message_call
except ImportError:  # other DSPy versions: nothing to forward
    _adapter_call = None
    adapter_message_call = None

from ttc_plugins._call_limits import worst_case_output
from ttc_plugins.budget import Budget, Reservation, current_budget
from ttc_plugins.prompt_overhead import prompt_overheads
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetedLM"]


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):
        parts = [output.get("text"), output.get("reasoning_content"), output.get("tool_calls")]
        return "".join(str(part) for part in parts if part)
    text = getattr(output, "text", None)  # an lm15 Response
    return text if isinstance(text, str) else str(output)


def _request_messages(request: Request) -> list[dict[str, str]]:
    system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system or ())
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": m.role, "content": m.text or ""} for m in request.messages]


def _adapter_origin(lm: dspy.BaseLM, messages: Any) -> contextlib.AbstractContextManager[object]:
    """Pass the adapter's "this call is mine" mark on to the wrapped LM, so DSPy does not warn."""
    if _adapter_call is None or messages is None:
        return contextlib.nullcontext()
    origin = _adapter_call.get()
    if origin is None or origin[1] is not messages:
        return contextlib.nullcontext()
    return adapter_message_call(lm, messages)


class _Outputs:
    """Carries the wrapped call's outputs out of the ``with`` block that charges for it."""

    value: Any = None


class BudgetedLM(dspy.BaseLM):
    """Wrap a DSPy LM so each call is reserved against, and charged to, a budget.

    Args:
        lm: the LM to wrap (a ``dspy.LM``, ``DummyLM`` or any ``dspy.BaseLM``).
        budget: the budget to charge; None means the budget of the current ``budget_scope`` at the
            time of each call (then calls outside a scope pass through uncounted).

    It presents the wrapped LM's ``model``, ``kwargs`` and capabilities, so adapters format prompts
    exactly as before, and ``copy(...)`` (used for per-sample ``rollout_id``) stays budgeted.
    """

    def __init__(self, lm: dspy.BaseLM, budget: Budget | None = None) -> None:
        if isinstance(lm, BudgetedLM) and (
            lm.scope_owned or budget is None or lm.budget is None or budget.is_within(lm.budget)
        ):
            # Re-wrapping would charge every call twice: the new budget's spend reaches the old one
            # anyway, or the old wrapper only stood for an outer scope. A budget the user attached to
            # the LM themselves is kept (wrapped, not replaced), as an explicit handler is in LangChain.
            lm = lm.lm
        if not isinstance(lm, dspy.BaseLM):
            raise TypeError(f"BudgetedLM wraps a dspy.BaseLM, got {type(lm).__name__}")
        # BaseLM.__init__ is not called: every setting is the wrapped LM's, read through below.
        self.lm = lm
        self.budget = budget
        self.scope_owned = False  # set by budget_scope for the wrapper it installs
        self.callbacks: list[Any] = []  # the wrapped LM fires its own and the global callbacks

    # The wrapped LM's identity and settings, read live so later changes to it show through.
    model = property(lambda self: self.lm.model)
    model_type = property(lambda self: self.lm.model_type)
    kwargs = property(lambda self: self.lm.kwargs)
    cache = property(lambda self: self.lm.cache)
    num_retries = property(lambda self: self.lm.num_retries)
    history = property(lambda self: self.lm.history)
    supports_function_calling = property(lambda self: self.lm.supports_function_calling)
    supports_reasoning = property(lambda self: self.lm.supports_reasoning)
    supports_response_schema = property(lambda self: self.lm.supports_response_schema)
    supported_params = property(lambda self: self.lm.supported_params)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class does not define: defer to the wrapped LM.
        if name == "lm":
            raise AttributeError(name)
        return getattr(self.lm, name)

    def _reserve(self, budget: Budget, prompt: Any, messages: Any, kwargs: Mapping[str, Any]) -> Reservation:
        settings = {**self.lm.kwargs, **kwargs}
        if isinstance(prompt, Request):
            settings["max_tokens"] = prompt.config.max_tokens
            messages = _request_messages(prompt)
        counted = count_tokens(messages if messages is not None else str(prompt or ""), self.lm.model)
        # What the server adds to the prompt (chat template, default system message), as far as known.
        prompt_tokens = counted + prompt_overheads.allowance(self.lm.model)
        worst_output = worst_case_output(settings, default=budget.default_max_output_tokens)
        return budget.reserve(prompt_tokens, worst_output, model=self.lm.model)

    def _commit(self, reservation: Reservation, tracker: UsageTracker, outputs: Any) -> None:
        input_tokens = output_tokens = 0
        for entries in tracker.usage_data.values():
            for entry in entries:
                input_tokens += int(entry.get("prompt_tokens") or entry.get("input_tokens") or 0)
                output_tokens += int(entry.get("completion_tokens") or entry.get("output_tokens") or 0)
        outer = dspy.settings.usage_tracker
        if outer is not None:
            for model, entries in tracker.usage_data.items():
                for entry in entries:
                    outer.add_usage(model, entry)
        if input_tokens or output_tokens:
            allowance = prompt_overheads.allowance(self.lm.model)
            prompt_overheads.learn(self.lm.model, counted=reservation.input_tokens - allowance, reported=input_tokens)
            reservation.commit(input_tokens, output_tokens)
            return
        # No usage reported: DummyLM reports zeros, some providers report nothing, and DSPy does not
        # say whether the answer came from its cache. Charge the counted tokens: never undercount.
        texts = outputs if isinstance(outputs, list) else [outputs]
        counted = sum(count_tokens(_output_text(output), self.lm.model) for output in texts)
        reservation.commit(None, counted)

    @contextlib.contextmanager
    def _charged(self, budget: Budget, prompt: Any, messages: Any, kwargs: Mapping[str, Any]) -> Iterator[_Outputs]:
        reservation = self._reserve(budget, prompt, messages, kwargs)
        tracker = UsageTracker()
        box = _Outputs()
        try:
            with dspy.context(usage_tracker=tracker):
                yield box
        except BaseException:
            reservation.release(failed=True)
            raise
        self._commit(reservation, tracker, box.value)

    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        budget = self.budget or current_budget()
        if budget is None:
            with _adapter_origin(self.lm, messages):
                return self.lm(prompt, messages=messages, **kwargs)
        with self._charged(budget, prompt, messages, kwargs) as box, _adapter_origin(self.lm, messages):
            box.value = self.lm(prompt, messages=messages, **kwargs)
        return box.value

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        budget = self.budget or current_budget()
        if budget is None:
            with _adapter_origin(self.lm, messages):
                return await self.lm.acall(prompt, messages=messages, **kwargs)
        with self._charged(budget, prompt, messages, kwargs) as box, _adapter_origin(self.lm, messages):
            box.value = await self.lm.acall(prompt, messages=messages, **kwargs)
        return box.value

    def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        return self.lm.forward(prompt=prompt, messages=messages, **kwargs)

    async def aforward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        return await self.lm.aforward(prompt=prompt, messages=messages, **kwargs)

    def copy(self, **kwargs: Any) -> BudgetedLM:
        twin = BudgetedLM(self.lm.copy(**kwargs), self.budget)
        twin.scope_owned = self.scope_owned
        return twin

    def dump_state(self) -> dict[str, Any]:
        return self.lm.dump_state()

    def __repr__(self) -> str:
        return f"BudgetedLM({self.lm!r}, budget={self.budget!r})"
