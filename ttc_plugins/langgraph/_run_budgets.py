"""The budget of each graph run in progress, kept beside the graph's state rather than in it.

A run spans several nodes, so no ``with`` block can hold its child budget open from the first node to
the last, and a Budget (a lock and a live ledger) cannot go into checkpointed state. The first node
opens the run's child budget here under a fresh run id, which is all the state carries; the sampling
nodes charge it, and the last node closes it and reports its spend.

A run that never reaches its last node (cancelled, or its parent failed) leaves its entry behind; the
oldest entries are dropped past ``capacity``. A node that finds no entry (dropped, or the run was
resumed in another process) opens a new one under the same parent budget, so limits still hold; only
the run's reported spend then misses what was spent before. The sampling graphs (self-consistency,
best-of-N) use it; the step graph (refine, feedback + edit, TPO) logs each call's spend in its state
instead, so its spend survives a resume anywhere.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from ttc_plugins.budget import Budget

logger = logging.getLogger(__name__)


class RunBudgets:
    """Child budgets by run id for one compiled graph.

    Example:
        >>> parent = Budget(max_calls=10)
        >>> runs = RunBudgets("self_consistency")
        >>> run = runs.open("run-1", parent)
        >>> run.reserve(input_tokens=3, max_output_tokens=2).commit(3, 2)
        >>> runs.close("run-1").spent.calls, parent.spent.calls, runs.close("run-1")
        (1, 1, None)
    """

    def __init__(self, name: str, capacity: int = 4096) -> None:
        self.name = name
        self.capacity = capacity
        self._runs: OrderedDict[str, Budget] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, run_id: str, parent: Budget | None) -> Budget:
        """Start the ledger of run ``run_id``: a child of ``parent``, or an unlimited budget without one."""
        with self._lock:
            return self._open_locked(run_id, parent)

    def get(self, run_id: str, parent: Budget | None) -> Budget:
        """The ledger of run ``run_id``, opened anew under ``parent`` if there is none."""
        with self._lock:
            budget = self._runs.get(run_id)
            return budget if budget is not None else self._open_locked(run_id, parent)

    def _open_locked(self, run_id: str, parent: Budget | None) -> Budget:
        budget = parent.child(name=self.name) if parent is not None else Budget(name=self.name)
        self._runs[run_id] = budget
        while len(self._runs) > self.capacity:
            dropped, _ = self._runs.popitem(last=False)
            logger.debug("%s: dropped the budget of unfinished run %s", self.name, dropped)
        return budget

    def close(self, run_id: str) -> Budget | None:
        """End run ``run_id`` and return its ledger (None if it has none here)."""
        with self._lock:
            return self._runs.pop(run_id, None)
