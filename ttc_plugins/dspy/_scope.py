"""Make an unmodified DSPy program obey a ``budget_scope``.

For the scope's duration the configured LM is replaced, through ``dspy.context``, by a
:class:`BudgetedLM` around it; DSPy hands its context to ``dspy.Parallel`` workers, so their calls are
charged too. The budget and the current role are also stored in DSPy's settings, because those worker
threads do not inherit our context variables.

Predictors given their own LM (``predictor.lm = ...``) bypass the configured LM: wrap that LM in
``BudgetedLM`` yourself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dspy

from ttc_plugins._scope import ThreadBridge, register_thread_bridge
from ttc_plugins.budget import Budget
from ttc_plugins.dspy.budgeted_lm import BudgetedLM

_BUDGET_KEY = "ttc_budget"
_ROLE_KEY = "ttc_role"


@contextlib.contextmanager
def scope_hook(budget: Budget) -> Iterator[None]:
    """Charge calls through DSPy's configured LM to ``budget`` (entered by ``budget_scope``)."""
    overrides: dict[str, object] = {_BUDGET_KEY: budget}
    lm = dspy.settings.lm
    if isinstance(lm, dspy.BaseLM):
        # An LM already wrapped by an outer scope is unwrapped first, so a call is charged to the
        # innermost budget once (a child budget passes its spend on to its parent itself).
        wrapped = BudgetedLM(lm, budget)
        wrapped.scope_owned = True
        overrides["lm"] = wrapped
    with dspy.context(**overrides):
        yield


def _setting(key: str) -> object | None:
    return getattr(dspy.settings, key, None)


register_thread_bridge(
    ThreadBridge(
        lookup_budget=lambda: _setting(_BUDGET_KEY),
        lookup_role=lambda: _setting(_ROLE_KEY),
        carry_role=lambda role: dspy.context(**{_ROLE_KEY: role}),
    )
)
