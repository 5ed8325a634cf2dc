"""Which budget and which role apply to the model calls made right now.

Both live in context variables, so they follow the code into nested strategies, asyncio tasks and the
worker threads LangChain starts (it copies the context into its executors). Threads a user starts by
hand do not inherit context variables: run their work through ``contextvars.copy_context().run``.

The framework hooks make an unmodified chain or DSPy program obey the scope. A hook is loaded only
once its framework has been imported (:mod:`ttc_plugins._framework_hooks`), so ``import ttc_plugins``
never imports LangChain or DSPy, and a DSPy-only program never loads the LangChain adapter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from ttc_plugins._framework_hooks import framework_scopes

if TYPE_CHECKING:
    from ttc_plugins.budget import Budget

DEFAULT_ROLE = "generator"

_current_budget: ContextVar[Budget | None] = ContextVar("ttc_current_budget", default=None)
_current_role: ContextVar[str | None] = ContextVar("ttc_current_role", default=None)


class ThreadBridge:
    """How a framework carries the budget and role into worker threads that do not copy contextvars.

    DSPy's ``Parallel`` starts its workers with DSPy's own settings but none of our context variables,
    so the DSPy adapter registers a bridge that stores both in DSPy's settings as well.
    """

    def __init__(
        self,
        lookup_budget: Callable[[], Budget | None],
        lookup_role: Callable[[], str | None],
        carry_role: Callable[[str], contextlib.AbstractContextManager[object]],
    ) -> None:
        self.lookup_budget = lookup_budget
        self.lookup_role = lookup_role
        self.carry_role = carry_role


_bridges: list[ThreadBridge] = []


def register_thread_bridge(bridge: ThreadBridge) -> None:
    """Called once by a framework adapter when it is imported."""
    _bridges.append(bridge)


def current_budget() -> Budget | None:
    """Return the budget made current by the innermost ``budget_scope``, or None outside any scope."""
    budget = _current_budget.get()
    if budget is None:
        budget = next((b for b in (bridge.lookup_budget() for bridge in _bridges) if b is not None), None)
    return budget


def current_role() -> str:
    """Return the role that model calls made here are charged to (``"generator"`` by default)."""
    role = _current_role.get()
    if role is None:
        role = next((r for r in (bridge.lookup_role() for bridge in _bridges) if r), None)
    return role or DEFAULT_ROLE


@contextlib.contextmanager
def budget_role(role: str) -> Iterator[str]:
    """Charge every model call made inside the block to ``role``.

    Example:
        >>> from ttc_plugins import Budget, budget_role
        >>> budget = Budget(max_total_tokens=1_000)
        >>> with budget_role("verifier"):
        ...     budget.reserve(input_tokens=10, max_output_tokens=5).commit(10, 5)
        >>> budget.spent.by_role["verifier"].total_tokens
        15
    """
    if not isinstance(role, str) or not role.strip():
        raise ValueError(f"budget_role needs a non-empty role name, got {role!r}")
    token = _current_role.set(role)
    try:
        with contextlib.ExitStack() as stack:
            for bridge in list(_bridges):
                stack.enter_context(bridge.carry_role(role))
            yield role
    finally:
        _current_role.reset(token)


@contextlib.contextmanager
def budget_scope(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` current for everything run inside the block, however deeply nested.

    Inside the scope, LangChain model calls (any chain, unmodified) and calls through DSPy's configured
    LM are counted against the budget and refused when they would cross a limit. Scopes nest: the
    innermost budget is the current one (use ``budget.child(...)`` so a sub-task's spend also counts
    in its parent).

    Example:
        >>> from ttc_plugins import Budget, budget_scope, current_budget
        >>> budget = Budget(max_total_tokens=2_000)
        >>> with budget_scope(budget):
        ...     current_budget() is budget
        True
    """
    from ttc_plugins.budget import Budget

    if not isinstance(budget, Budget):
        raise TypeError(f"budget_scope needs a ttc_plugins.Budget, got {type(budget).__name__}")
    token = _current_budget.set(budget)
    try:
        with contextlib.ExitStack() as stack:
            for scope in framework_scopes(budget):
                stack.enter_context(scope)
            yield budget
    finally:
        _current_budget.reset(token)


@contextlib.contextmanager
def strategy_run_scope(name: str) -> Iterator[Budget]:
    """A budget for one strategy run: a child of the current budget (so the current limits still
    apply and its spend still counts there), or a fresh unlimited one outside any scope. Its ``spent``
    is what the run's :class:`~ttc_plugins.TTCResult` reports.
    """
    from ttc_plugins.budget import Budget

    parent = current_budget()
    run_budget = parent.child(name=name) if parent is not None else Budget(name=name)
    with budget_scope(run_budget):
        yield run_budget
