"""ttc-plugins: test-time compute strategies for LangChain, LangGraph and DSPy under one token budget.

The core (this package) is framework-free; importing it never imports LangChain, LangGraph or DSPy.
The adapters live in ``ttc_plugins.langchain``, ``ttc_plugins.langgraph`` and ``ttc_plugins.dspy``; the
option types their strategies take (``AdaptiveStop``, ``RefineRules``, ``ForcingRules``) are here.

Example:
    >>> from ttc_plugins import Budget, budget_scope
    >>> budget = Budget(max_total_tokens=20_000, max_calls=50)
    >>> with budget_scope(budget):
    ...     pass  # any LangChain chain or DSPy program invoked here is counted and stopped at the limit
    >>> budget.spent.calls
    0
"""

from ttc_plugins.budget import (
    Budget,
    BudgetExceeded,
    ModelPrice,
    Remaining,
    Reservation,
    Spend,
    SpendLine,
    budget_role,
    budget_scope,
    current_budget,
    current_role,
)
from ttc_plugins.results import (
    AllCandidatesFailed,
    Candidate,
    InvalidVerdict,
    StopReason,
    TTCEvent,
    TTCResult,
    Verdict,
    parse_verdict,
)
from ttc_plugins.strategies.forcing import ForcingRules
from ttc_plugins.strategies.refine import RefineRules
from ttc_plugins.strategies.select import AdaptiveStop
from ttc_plugins.tokens import count_tokens

__version__ = "0.1.0"

__all__ = [
    "AdaptiveStop",
    "AllCandidatesFailed",
    "Budget",
    "BudgetExceeded",
    "Candidate",
    "ForcingRules",
    "InvalidVerdict",
    "ModelPrice",
    "RefineRules",
    "Remaining",
    "Reservation",
    "Spend",
    "SpendLine",
    "StopReason",
    "TTCEvent",
    "TTCResult",
    "Verdict",
    "budget_role",
    "budget_scope",
    "count_tokens",
    "current_budget",
    "current_role",
    "parse_verdict",
]
