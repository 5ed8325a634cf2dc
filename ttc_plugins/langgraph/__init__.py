"""LangGraph adapter: test-time-compute strategies as subgraphs and node wrappers, under one budget.

Needs ``pip install 'ttc-plugins[langgraph]'``. :func:`create_self_consistency_graph` returns a compiled
subgraph (``Send`` fan-out, a vote node) to add with ``parent.add_node(...)``;
:func:`create_best_of_n_graph` verifies each sample in its own ``Send`` branch and keeps the best;
:func:`sampled_node` makes an existing node answer by majority vote; :func:`create_refine_graph` (with
optional human review through ``interrupt``), :func:`create_feedback_edit_graph` and
:func:`create_tpo_graph` refine with feedback in explicit, checkpoint-safe loops; :func:`prompting_node`
and :func:`create_prompting_graph` put a prompting transform (chain-of-draft, step-back, budget forcing,
...) in a graph. Model calls are charged to the caller's ``budget_scope`` or to the budget passed as
``context=TTCContext(budget=...)``.

Example:
    >>> from ttc_plugins import Budget
    >>> graph = create_self_consistency_graph(lambda question: "Answer: 12", n=2)
    >>> graph.invoke({"question": "5 + 7?"}, context=TTCContext(budget=Budget(max_calls=10)))["answer"]
    '12'
"""

from ttc_plugins._extras import require as _require

_require("langgraph", extra="langgraph", adapter="ttc_plugins.langgraph")

from ttc_plugins.langgraph.best_of_n import create_best_of_n_graph  # noqa: E402
from ttc_plugins.langgraph.context import TTCContext  # noqa: E402
from ttc_plugins.langgraph.feedback_edit import create_feedback_edit_graph  # noqa: E402
from ttc_plugins.langgraph.prompting import create_prompting_graph, prompting_node  # noqa: E402
from ttc_plugins.langgraph.refine import create_refine_graph  # noqa: E402
from ttc_plugins.langgraph.sampled_node import sampled_node  # noqa: E402
from ttc_plugins.langgraph.self_consistency import create_self_consistency_graph  # noqa: E402
from ttc_plugins.langgraph.state_fields import TTCResultField  # noqa: E402
from ttc_plugins.langgraph.tpo import create_tpo_graph  # noqa: E402

__all__ = [
    "TTCContext",
    "TTCResultField",
    "create_best_of_n_graph",
    "create_feedback_edit_graph",
    "create_prompting_graph",
    "create_refine_graph",
    "create_self_consistency_graph",
    "create_tpo_graph",
    "prompting_node",
    "sampled_node",
]
