"""Register the budget handler for every LangChain run inside a ``budget_scope``.

langchain-core consults its configure hooks whenever it builds a callback manager (for every chain,
model and tool run). A hook whose context variable holds a handler adds it to the run, the same
mechanism ``get_usage_metadata_callback`` uses. So an unmodified chain invoked inside the scope is
counted and stopped, including in ``batch`` workers and asyncio tasks, which copy the context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from langchain_core.tracers.context import register_configure_hook

from ttc_plugins.budget import Budget
from ttc_plugins.langchain.budget_handler import BudgetCallbackHandler, settle_calls_left_open

_scope_handler: ContextVar[BudgetCallbackHandler | None] = ContextVar("ttc_langchain_budget_handler", default=None)
# Registered once, when this module is first imported.
register_configure_hook(_scope_handler, inheritable=True)


@contextlib.contextmanager
def langchain_budget_scope(budget: Budget) -> Iterator[BudgetCallbackHandler]:
    """Charge every LangChain model call in the block to ``budget`` (entered by ``budget_scope``)."""
    handler = BudgetCallbackHandler(budget)
    token = _scope_handler.set(handler)
    try:
        yield handler
    finally:
        _scope_handler.reset(token)
        settle_calls_left_open(budget)
