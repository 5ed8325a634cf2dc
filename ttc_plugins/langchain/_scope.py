"""Count and stop every LangChain model call made inside a ``budget_scope``.

langchain-core consults its configure hooks whenever it builds a callback manager (for every chain,
model and tool run): a hook whose context variable holds a handler adds it to the run, the mechanism
behind ``get_usage_metadata_callback``. One process-wide :class:`BudgetCallbackHandler` is that
variable's default, so once this module is imported every LangChain run has exactly one budget
handler, however many scopes are nested; it finds the current budget per call (outside any scope it
does nothing). ``batch`` workers and asyncio tasks copy the context, so they find it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from langchain_core.tracers.context import register_configure_hook

from ttc_plugins.budget import Budget
from ttc_plugins.langchain.budget_handler import BudgetCallbackHandler, settle_calls_left_open

PROCESS_HANDLER = BudgetCallbackHandler()
"""The handler every LangChain run gets: it charges the budget of the innermost ``budget_scope``."""

_handler: ContextVar[BudgetCallbackHandler | None] = ContextVar("ttc_langchain_budget_handler", default=PROCESS_HANDLER)
# Registered once, when this module is first imported.
register_configure_hook(_handler, inheritable=True)


@contextlib.contextmanager
def scope_hook(budget: Budget) -> Iterator[None]:
    """What a ``budget_scope`` adds for LangChain: on leaving it, settle calls nobody will hear the end of."""
    try:
        yield
    finally:
        settle_calls_left_open(budget)
