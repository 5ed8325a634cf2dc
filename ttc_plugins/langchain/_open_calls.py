"""The LangChain model calls in flight: each one's reservation, who started it, and what it streamed.

langchain-core does not always tell a callback handler that a call ended: a call cancelled while
``agenerate`` awaits its workers (``asyncio.wait_for``, a cancelled LangGraph run) gets neither
``on_llm_end`` nor ``on_llm_error``, and a handler listed before ours that raises in ``on_llm_end``
stops the event there. So each open call remembers its owner (the asyncio task, else the thread,
that started it), and a call whose owner has finished, or whose ``budget_scope`` has been left by
its owner, is settled as abandoned: charged its prompt and the tokens it streamed.

Calls are kept per budget in a weak mapping, so a budget's entries go with the budget; and since
every call is settled one way or another, no entry outlives its call for long.

Example:
    >>> from uuid import uuid4
    >>> from ttc_plugins import Budget
    >>> budget, calls = Budget(), OpenCalls()
    >>> call = calls.open(budget, uuid4(), budget.reserve(input_tokens=10, max_output_tokens=50))
    >>> call.streamed.append("Hello there")
    >>> for abandoned in calls.pop_left_by(budget):
    ...     abandoned.settle_abandoned()
    >>> budget.spent.input_tokens, budget.spent.output_tokens, budget.reserved.calls
    (10, 2, 0)
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ttc_plugins.budget import Budget, Reservation
from ttc_plugins.tokens import count_tokens

__all__ = ["OpenCall", "OpenCalls"]


def _running_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


@dataclass(eq=False)
class OpenCall:
    """One model call between its start and its settlement."""

    budget: Budget
    run_id: UUID
    reservation: Reservation
    task: asyncio.Task[Any] | None = field(default_factory=_running_task)
    thread: threading.Thread = field(default_factory=threading.current_thread)
    batch: int | None = None  # the same id for the prompts of one multi-prompt request
    counted_prompt: int = 0  # the prompt as counted, before any allowance for what the server adds
    prompts: int = 1
    streamed: list[str] = field(default_factory=list)

    def owner_is_gone(self) -> bool:
        """Whether whoever started the call can no longer be waiting for it."""
        if self.task is not None:
            return self.task.done()
        return not self.thread.is_alive()

    def owned_here(self) -> bool:
        task = _running_task()
        if task is not None:
            return self.task is task
        return self.task is None and self.thread is threading.current_thread()

    def settle_abandoned(self) -> None:
        """Charge what the call certainly cost: its prompt (it was sent) and the text it streamed."""
        output = count_tokens("".join(self.streamed), self.reservation.model) if self.streamed else 0
        self.reservation.commit(None, output)


class OpenCalls:
    """Open calls by budget and run id, shared by every handler so a run is charged once per budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_budget: weakref.WeakKeyDictionary[Budget, dict[UUID, OpenCall]] = weakref.WeakKeyDictionary()
        self._watched_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def holds(self, budget: Budget, run_id: UUID) -> bool:
        with self._lock:
            return run_id in self._by_budget.get(budget, {})

    def open(self, budget: Budget, run_id: UUID, reservation: Reservation, **details: Any) -> OpenCall:
        """Record a call that has just been reserved (``details``: the other :class:`OpenCall` fields)."""
        call = OpenCall(budget, run_id, reservation, **details)
        with self._lock:
            self._by_budget.setdefault(budget, {})[run_id] = call
            watch = call.task is not None and call.task not in self._watched_tasks
            if watch:
                self._watched_tasks.add(call.task)
        if watch:
            # Once per task: when it finishes, whatever it left open was abandoned (e.g. cancelled).
            call.task.add_done_callback(self._settle_left_by_task)
        return call

    def find(self, run_id: UUID) -> list[OpenCall]:
        with self._lock:
            return [calls[run_id] for calls in self._by_budget.values() if run_id in calls]

    def pop(self, run_id: UUID) -> list[OpenCall]:
        with self._lock:
            return [calls.pop(run_id) for calls in self._by_budget.values() if run_id in calls]

    def _pop_where(self, budget: Budget | None, keep: Any) -> list[OpenCall]:
        with self._lock:
            budgets = [budget] if budget is not None else list(self._by_budget.keys())
            popped = []
            for each in budgets:
                calls = self._by_budget.get(each, {})
                for run_id in [run_id for run_id, call in calls.items() if not keep(call)]:
                    popped.append(calls.pop(run_id))
            return popped

    def pop_batch(self, budget: Budget, batch: int) -> list[OpenCall]:
        """The other prompts of a multi-prompt request that was refused part-way (none of them was sent)."""
        return self._pop_where(budget, lambda call: not (call.batch == batch and call.owned_here()))

    def pop_left_by(self, budget: Budget) -> list[OpenCall]:
        """Calls of ``budget`` that were started here or whose owner is gone: the scope is being left."""
        return self._pop_where(budget, lambda call: not (call.owned_here() or call.owner_is_gone()))

    def in_flight(self, budget: Budget) -> int:
        with self._lock:
            return len(self._by_budget.get(budget, {}))

    def _settle_left_by_task(self, task: asyncio.Task[Any]) -> None:
        for call in self._pop_where(None, lambda call: call.task is not task):
            call.settle_abandoned()
