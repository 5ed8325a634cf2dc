"""The runtime context a ttc_plugins graph takes its budget from.

A budget holds a lock and a live ledger, so it belongs in LangGraph's runtime ``context``, never in
(checkpointed) state. Without one in the context, the budget of the caller's ``budget_scope`` applies:
LangGraph copies context variables into the threads and tasks that run nodes, ``Send`` branches included.

Example:
    >>> from ttc_plugins import Budget
    >>> TTCContext(budget=Budget(max_calls=5))
    TTCContext(budget=Budget(max_calls=5))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ttc_plugins.budget import Budget, budget_scope, current_budget, strategy_run_scope

__all__ = ["TTCContext", "budget_for_run", "strategy_run_budget"]


@dataclass
class TTCContext:
    """What to pass as ``context=`` to a graph's ``invoke``/``stream`` to charge a budget explicitly.

    Attributes:
        budget: the budget every model call of the run is charged to; None means the budget of the
            caller's ``budget_scope`` (or none).
    """

    budget: Budget | None = None

    def __post_init__(self) -> None:
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise TypeError(f"TTCContext.budget must be a ttc_plugins.Budget, got {type(self.budget).__name__}")


def budget_for_run(context: Any) -> Budget | None:
    """The budget a run charges: the one in the runtime context, else the current ``budget_scope``'s.

    The context may be a :class:`TTCContext`, any object with a ``budget`` attribute (a parent graph's
    own context class), or a mapping with a ``"budget"`` key; a ``budget`` that is not a
    :class:`~ttc_plugins.Budget` (a parent's own notion of budget, say) is not ours and is ignored.

    Example:
        >>> from ttc_plugins import Budget, budget_scope
        >>> outer, explicit = Budget(name="outer"), Budget(name="explicit")
        >>> with budget_scope(outer):
        ...     budget_for_run(None).name, budget_for_run({"budget": explicit}).name
        ('outer', 'explicit')
    """
    budget = context.get("budget") if isinstance(context, Mapping) else getattr(context, "budget", None)
    return budget if isinstance(budget, Budget) else current_budget()


@contextlib.contextmanager
def strategy_run_budget(context: Any, name: str) -> Iterator[Budget]:
    """A child budget for one strategy run inside a single node, under :func:`budget_for_run`'s budget."""
    explicit = budget_for_run(context)
    with contextlib.ExitStack() as stack:
        if explicit is not None and explicit is not current_budget():
            stack.enter_context(budget_scope(explicit))
        yield stack.enter_context(strategy_run_scope(name))
