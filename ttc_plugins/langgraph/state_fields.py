"""State keys that keep candidates and results intact through a LangGraph checkpointer.

LangGraph's serializer stores a pydantic model as ``model_dump()`` and rebuilds it from that dict, so
a candidate's output (an ``AIMessage``, say) would come back from a checkpoint as a plain dict, with a
warning that the class is not registered (and, under ``LANGGRAPH_STRICT_MSGPACK``, not as a candidate
at all). So the graph's nodes write candidates and results as plain data around the output objects
(messages, strings and dicts, which the serializer handles natively), these channels turn them into
:class:`~ttc_plugins.Candidate` / :class:`~ttc_plugins.TTCResult` objects as they arrive and when they
are loaded back, and checkpoint them as plain data again. The same holds for the node writes that
LangGraph saves to resume an interrupted step.

Use :data:`TTCResultField` for a ``result`` key in a parent graph's state:

Example:
    >>> from typing import TypedDict
    >>> class ParentState(TypedDict, total=False):
    ...     question: str
    ...     answer: str
    ...     result: TTCResultField
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Any, Self

from langgraph.channels import BinaryOperatorAggregate, LastValue

from ttc_plugins.results import Candidate, TTCResult

__all__ = [
    "CandidateListField",
    "TTCResultField",
    "candidate_data",
    "candidate_from_data",
    "merge_by_index",
    "result_data",
]


def candidate_data(candidate: Candidate) -> dict[str, Any]:
    """A candidate as plain data around its output object, which is how the graph's nodes write it.

    The exception behind a failed candidate rides along: in memory the channel puts it back on the
    candidate (so a run that could afford nothing re-raises the budget's own refusal); LangGraph's
    serializer stores it as its repr.

    Example:
        >>> data = candidate_data(Candidate(index=3, output="Answer: 1", answer="1"))
        >>> data["index"], data["output"], "exception" in data
        (3, 'Answer: 1', False)
    """
    data = {**candidate.model_dump(exclude={"output"}), "output": candidate.output}
    if candidate.exception is not None:
        data["exception"] = candidate.exception
    return data


def result_data(result: TTCResult) -> dict[str, Any]:
    """A result as plain data around its outputs (see :func:`candidate_data`)."""
    return {
        **result.model_dump(exclude={"output", "candidates"}),
        "output": result.output,
        "candidates": [candidate_data(c) for c in result.candidates],
    }


def candidate_from_data(data: dict[str, Any]) -> Candidate:
    """The candidate :func:`candidate_data` wrote, with its exception back on it when it rode along.

    Example:
        >>> failed = Candidate(index=1, error="TimeoutError: slow")
        >>> failed._exception = TimeoutError("slow")
        >>> restored = candidate_from_data(candidate_data(failed))
        >>> restored == failed, repr(restored.exception)
        (True, "TimeoutError('slow')")
    """
    fields = dict(data)
    exception = fields.pop("exception", None)
    candidate = Candidate.model_validate(fields)
    if isinstance(exception, BaseException):
        candidate._exception = exception
    return candidate


def _as_candidate(value: Any) -> Any:
    return candidate_from_data(value) if isinstance(value, dict) else value


def _as_result(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return TTCResult.model_validate({**value, "candidates": [_as_candidate(c) for c in value.get("candidates", ())]})


def merge_by_index(current: Sequence[Any], new: Sequence[Any]) -> list[Candidate]:
    """Candidates from parallel samples, in index order whatever order the samples finished in.

    Example:
        >>> merged = merge_by_index([Candidate(index=2)], [{"index": 0}, Candidate(index=1)])
        >>> [c.index for c in merged]
        [0, 1, 2]
    """
    return sorted(map(_as_candidate, [*current, *new]), key=lambda candidate: candidate.index)


class _CandidateListChannel(BinaryOperatorAggregate):
    """A reducer key (merged by index, reset with ``Overwrite``) holding candidates, saved as plain data."""

    def __init__(self, typ: Any, operator: Any = merge_by_index) -> None:
        super().__init__(typ, operator)

    def update(self, values: Sequence[Any]) -> bool:
        updated = super().update(values)
        if updated:  # an Overwrite bypasses the operator, so its plain data is turned into candidates here
            self.value = [_as_candidate(c) for c in self.value]
        return updated

    def checkpoint(self) -> Any:
        value = super().checkpoint()
        return [candidate_data(c) for c in value] if self.is_available() else value

    def from_checkpoint(self, checkpoint: Any) -> Self:
        restored = super().from_checkpoint(checkpoint)
        if restored.is_available():
            restored.value = [_as_candidate(c) for c in restored.value]
        return restored


class _ResultChannel(LastValue):
    """A last-value key holding a :class:`TTCResult`, saved as plain data around its outputs."""

    def update(self, values: Sequence[Any]) -> bool:
        updated = super().update(values)
        if updated:
            self.value = _as_result(self.value)
        return updated

    def checkpoint(self) -> Any:
        value = super().checkpoint()
        return result_data(value) if isinstance(value, TTCResult) else value

    def from_checkpoint(self, checkpoint: Any) -> Self:
        restored = super().from_checkpoint(checkpoint)
        if restored.is_available():
            restored.value = _as_result(restored.value)
        return restored


CandidateListField = Annotated[list[Candidate], _CandidateListChannel]
"""Candidates added by parallel samples (kept in index order); ``Overwrite([...])`` replaces them."""

TTCResultField = Annotated[TTCResult | None, _ResultChannel]
"""A :class:`~ttc_plugins.TTCResult` (or None) that comes back from a checkpoint as it went in."""


def check_io_keys(input_key: str, output_key: str, *, reserved: Collection[str]) -> None:
    """Refuse input and output key names that are empty, equal, or among the graph's own keys.

    Example:
        >>> check_io_keys("question", "candidates", reserved={"candidates", "result"})
        Traceback (most recent call last):
        ...
        ValueError: output_key='candidates' is a key the graph uses itself; choose another name
    """
    for role, key in (("input_key", input_key), ("output_key", output_key)):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{role} must be a non-empty string, got {key!r}")
        if key in reserved:
            raise ValueError(f"{role}={key!r} is a key the graph uses itself; choose another name")
    if input_key == output_key:
        raise ValueError(f"input_key and output_key must differ, both are {input_key!r}")
