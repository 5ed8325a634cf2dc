"""The replies of a graph run as plain data, so the run's log survives a checkpointer and a new process.

A step graph keeps every reply its calls got in state and replays the family's core over them. An
output (text, a message, a dict) is stored as it is; LangGraph's serializer handles those. An
exception is not data a checkpointer keeps faithfully (it stores its repr), so a failed call is
logged as a record of its type, message and, for a budget refusal, the limit's numbers, and rebuilt
from that record on replay. The core then sees the same failure wherever the run is resumed:

- a verifier's :class:`~ttc_plugins.Verdict` is logged as its mapping, which the core reads the same;
- a builtin exception comes back as itself (``ValueError("x")``), any other as an exception of a
  class with the same name, so a candidate's ``error`` text reads the same;
- a refusal that stopped the run (the run's budget or one it runs under ran out) comes back as a
  ``BudgetExceeded`` without a budget, which :func:`~ttc_plugins.strategies.candidates.stops_the_run`
  takes as the run's; one that came from a budget made inside the call comes back naming a detached
  budget, which is not the run's, so it fails that call only, as it did live.

Example:
    >>> data = encode_reply(ValueError("no answer"))
    >>> decode_reply(data)
    ValueError('no answer')
    >>> decode_reply(encode_reply("Answer: 4"))
    'Answer: 4'
"""

from __future__ import annotations

import builtins
from functools import cache
from typing import Any

from ttc_plugins.budget import Budget, BudgetExceeded
from ttc_plugins.results import Verdict
from ttc_plugins.strategies.candidates import MeteredOutput

__all__ = ["decode_reply", "encode_reply"]

_ERROR, _METERED = "ttc_error", "ttc_metered"


class ReplayedError(Exception):
    """A call's failure rebuilt from the log, for an exception class that is not a builtin."""


@cache
def _replayed_class(name: str) -> type[Exception]:
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin
    return type(name, (ReplayedError,), {})


def encode_reply(reply: Any, *, stops_run: bool = True) -> Any:
    """A reply as plain data: outputs as they are, a failure as a record (see the module docstring).

    Args:
        reply: the call's output, a :class:`MeteredOutput`, or the exception it raised.
        stops_run: for a budget refusal, whether it was the run's budget that refused.
    """
    if isinstance(reply, Verdict):
        # The core reads a verdict's mapping as the verdict itself, and a checkpointer stores a mapping
        # as it is; a Verdict object it would rebuild only as an "unregistered type" (warned, and
        # blocked under LANGGRAPH_STRICT_MSGPACK).
        return reply.model_dump()
    if isinstance(reply, MeteredOutput):
        return {_METERED: [encode_reply(reply.output), reply.input_tokens, reply.output_tokens]}
    if not isinstance(reply, BaseException):
        return reply
    record: dict[str, Any] = {"type": type(reply).__name__, "message": str(reply)}
    if isinstance(reply, BudgetExceeded):
        record["refusal"] = {
            "limit": reply.limit, "maximum": reply.maximum, "used": reply.used, "requested": reply.requested,
            "budget_name": reply.budget_name, "stops_run": stops_run,
        }  # fmt: skip
    return {_ERROR: record}


def decode_reply(data: Any) -> Any:
    """The reply :func:`encode_reply` logged, as the core saw it live."""
    if not isinstance(data, dict):
        return data
    if _METERED in data and len(data) == 1:
        output, input_tokens, output_tokens = data[_METERED]
        return MeteredOutput(decode_reply(output), input_tokens, output_tokens)
    if _ERROR not in data or len(data) != 1:
        return data
    record = data[_ERROR]
    refusal = record.get("refusal")
    if refusal is None:
        return _replayed_class(record["type"])(record["message"])
    # A refusal from inside the call names a stand-in for that call's own budget: not the run's.
    refusing = None if refusal["stops_run"] else Budget(name=refusal["budget_name"])
    fields = {key: refusal[key] for key in ("limit", "maximum", "used", "requested", "budget_name")}
    return BudgetExceeded(record["message"], **fields, budget=refusing)
