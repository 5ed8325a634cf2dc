"""LangChain adapter: budget accounting for any chain (and, as they land, Runnable strategy wrappers).

Needs ``pip install 'ttc-plugins[langchain]'``.

Example:
    >>> from ttc_plugins import Budget, budget_scope
    >>> budget = Budget(max_total_tokens=10_000)
    >>> with budget_scope(budget):
    ...     pass  # chain.invoke(...) here is counted, and refused past the limit
"""

from ttc_plugins._extras import require as _require

_require("langchain_core", extra="langchain", adapter="ttc_plugins.langchain")

from ttc_plugins._llm_judge import JudgeReply, llm_judge  # noqa: E402
from ttc_plugins.langchain.best_of_n import BestOfN, best_of_n  # noqa: E402
from ttc_plugins.langchain.budget_forcing import BudgetForcing, budget_forcing, supports_prefill  # noqa: E402
from ttc_plugins.langchain.budget_handler import BudgetCallbackHandler  # noqa: E402
from ttc_plugins.langchain.ensemble import Ensemble, ensemble  # noqa: E402
from ttc_plugins.langchain.feedback_edit import FeedbackEdit, feedback_edit  # noqa: E402
from ttc_plugins.langchain.prompting import StepBack, analogical, chain_of_draft, chain_of_thought, step_back  # noqa: E402
from ttc_plugins.langchain.refine import Refine, refine  # noqa: E402
from ttc_plugins.langchain.self_consistency import SelfConsistency, self_consistency  # noqa: E402
from ttc_plugins.langchain.tpo import TPO, round_best_scores, tpo  # noqa: E402

__all__ = [
    "TPO",
    "BestOfN",
    "BudgetCallbackHandler",
    "BudgetForcing",
    "Ensemble",
    "FeedbackEdit",
    "JudgeReply",
    "Refine",
    "SelfConsistency",
    "StepBack",
    "analogical",
    "best_of_n",
    "budget_forcing",
    "chain_of_draft",
    "chain_of_thought",
    "ensemble",
    "feedback_edit",
    "llm_judge",
    "refine",
    "round_best_scores",
    "self_consistency",
    "step_back",
    "supports_prefill",
    "tpo",
]
