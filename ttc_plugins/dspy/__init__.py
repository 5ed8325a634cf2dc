"""DSPy adapter: budget enforcement for any DSPy program, and test-time-compute strategy modules.

Needs ``pip install 'ttc-plugins[dspy]'``. Inside ``budget_scope(budget)`` the configured LM is charged
automatically; :class:`BudgetedLM` wraps any other LM explicitly. :class:`SelfConsistency` answers a
signature by majority vote over sampled predictions; :class:`BestOfN` by the best verified one (a function
verifier, or an LLM judge with the :class:`JudgeAnswer` signature). :class:`Refine`, :class:`FeedbackEdit` and
:class:`TPO` refine with feedback, never returning a version scored lower than the best. All stay optimizable
like any DSPy module: their predictors are attributes.

Example:
    >>> import dspy
    >>> from ttc_plugins import Budget, budget_scope
    >>> budget = Budget(max_calls=10)
    >>> with budget_scope(budget):
    ...     pass  # program(question=...) here is counted, and refused past the limit
"""

from ttc_plugins._extras import prefer_offline as _prefer_offline
from ttc_plugins._extras import require as _require

_prefer_offline()
_require("dspy", extra="dspy", adapter="ttc_plugins.dspy")

from ttc_plugins.dspy import _scope as _scope  # noqa: E402  (registers the DSPy thread bridge)
from ttc_plugins.dspy.best_of_n import BestOfN  # noqa: E402
from ttc_plugins.dspy.budget_forcing import BudgetForcing  # noqa: E402
from ttc_plugins.dspy.budgeted_lm import BudgetedLM  # noqa: E402
from ttc_plugins.dspy.feedback_edit import FeedbackEdit  # noqa: E402
from ttc_plugins.dspy.judge import JudgeAnswer  # noqa: E402
from ttc_plugins.dspy.prompting import Analogical, ChainOfDraft, StepBack  # noqa: E402
from ttc_plugins.dspy.refine import Refine  # noqa: E402
from ttc_plugins.dspy.self_consistency import SelfConsistency  # noqa: E402
from ttc_plugins.dspy.tpo import TPO  # noqa: E402

__all__ = [
    "TPO",
    "Analogical",
    "BestOfN",
    "BudgetForcing",
    "BudgetedLM",
    "ChainOfDraft",
    "FeedbackEdit",
    "JudgeAnswer",
    "Refine",
    "SelfConsistency",
    "StepBack",
]
