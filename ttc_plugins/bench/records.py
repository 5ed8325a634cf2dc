"""One row of raw results per (item, method), and the JSONL file they are written to as they arrive.

Rows are written and flushed one at a time, so an interrupted run still leaves every finished row on
disk, and the summary can be recomputed from the file alone.

Example:
    >>> row = ItemResult(method="greedy", item=0, question="Calculate 9 + 4.", expected="13", answer="13",
    ...                  correct=True, failed=False)
    >>> row.to_json()[:45]
    '{"method": "greedy", "item": 0, "question": "'
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["ItemResult", "JsonlResultWriter", "read_results"]


@dataclass(frozen=True)
class ItemResult:
    """What one method did on one item, and what it cost.

    Attributes:
        method: the method's name (``sc@8``).
        item: the item's index.
        question / expected: the item.
        answer: the method's extracted final answer (None: it gave none).
        correct: the answer matched the expected one.
        failed: the method raised or gave no answer (counted as wrong).
        error: what was raised, when it was.
        input_tokens / output_tokens / calls / failed_calls: the item budget's spend, all roles.
        tokens_by_role: total tokens per role ("generator", "verifier", ...).
        seconds: wall time for the item.
        stop_reason / samples / failed_samples: from the method's outcome (see ``MethodOutcome``).
        output: the chosen output's text (for reading why it was wrong).
        sample_answers / sample_tokens: each sample's answer and ``[input, output]`` tokens, in
            drawing order, for the sampling methods (see ``MethodOutcome``).
    """

    method: str
    item: int
    question: str
    expected: str
    answer: str | None
    correct: bool
    failed: bool
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    failed_calls: int = 0
    tokens_by_role: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stop_reason: str | None = None
    samples: int = 0
    failed_samples: int = 0
    output: str | None = None
    sample_answers: list[str | None] = field(default_factory=list)
    sample_tokens: list[list[int]] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class JsonlResultWriter:
    """Writes :class:`ItemResult` rows to a JSONL file (truncated when opened), one flushed line each.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "results.jsonl")
        >>> with JsonlResultWriter(path) as write:
        ...     write(ItemResult(method="greedy", item=0, question="q", expected="1", answer="1",
        ...                      correct=True, failed=False))
        >>> [row.method for row in read_results(path)]
        ['greedy']
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def __enter__(self) -> JsonlResultWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        return self

    def __call__(self, row: ItemResult) -> None:
        if self._file is None:
            raise RuntimeError(
                "JsonlResultWriter is used as a context manager: `with JsonlResultWriter(path) as write`"
            )
        self._file.write(row.to_json() + "\n")
        self._file.flush()

    def __exit__(self, *exc_info: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_results(path: str | os.PathLike[str]) -> list[ItemResult]:
    """Read back rows written by :class:`JsonlResultWriter` (blank lines skipped)."""
    with Path(path).open(encoding="utf-8") as lines:
        return [ItemResult(**json.loads(line)) for line in lines if line.strip()]
