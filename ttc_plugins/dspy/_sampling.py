"""What every DSPy strategy does with samples: their ``rollout_id`` blocks and the traces passed on.

Samples of one predictor differ only in ``rollout_id`` (DSPy's cache would otherwise return one answer
n times), taken from a block per call so optimizer rounds never share a cached sample; only the steps
that made the returned answer reach the caller's trace, so BootstrapFewShot learns from winners.
"""

from __future__ import annotations

from typing import Any

import dspy


def pass_on(traces: list[list[Any]]) -> None:
    """Extend the caller's trace with these calls' steps, keeping DSPy's size limit.

    BootstrapFewShot turns every traced step into a demo when the program's answer passes the metric,
    so only the steps that made the returned answer may reach it: not a losing sample, not a rejected edit.
    """
    trace, limit = dspy.settings.trace, dspy.settings.max_trace_size
    if trace is None or limit <= 0:
        return
    for steps in traces:
        trace.extend(steps)
    del trace[: max(0, len(trace) - limit)]


ROLLOUTS_PER_BLOCK = 1000
"""A caller's ``rollout_id`` r (or the LM's) opens a block: its samples use ``r * 1000 + i``.

BootstrapFewShot gives round k the rollout_id k; consecutive ids counted ``r + i`` would overlap
(round 2's first sample = round 1's second), and DSPy's cache would hand the same answers back."""


def base_rollout_id(config: dict[str, Any], lm: Any) -> int:
    """Where a run's sample rollout_ids start: the caller's ``config`` rollout_id, else the LM's, as a block."""
    base = config.get("rollout_id") or (getattr(lm, "kwargs", None) or {}).get("rollout_id") or 0
    return int(base) * ROLLOUTS_PER_BLOCK


__all__ = ["ROLLOUTS_PER_BLOCK", "base_rollout_id", "pass_on", "signature_inputs"]


# Keyword arguments a call takes as ``dspy.Predict`` does, which are not inputs of the signature.
_CALL_OPTIONS = ("config", "lm")


def signature_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """A call's keyword arguments without the per-call options (``config``, ``lm``).

    Example:
        >>> signature_inputs({"question": "q", "config": {"temperature": 1.0}})
        {'question': 'q'}
    """
    return {key: value for key, value in inputs.items() if key not in _CALL_OPTIONS}
