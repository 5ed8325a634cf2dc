"""The benchmark's items: reasoning-gym's procedural arithmetic, or the user's own JSONL file.

Both give :class:`BenchItem` objects, checked the same way: the final answer is extracted from a
method's output (:func:`~ttc_plugins.answers.extract_answer`) and compared with the expected one by
numeric-aware :func:`~ttc_plugins.answers.same_answer`. reasoning-gym's own ``score_answer`` is not
used: for ``basic_arithmetic`` it is an exact string match with partial credit ("13.0" scores 0.5
against "13"), which would penalise a right answer for its spelling.

Example:
    >>> item = BenchItem(index=0, question="What is 6 + 3?", answer="9")
    >>> item.is_right("9.0"), item.is_right(None)
    (True, False)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttc_plugins.answers import same_answer

__all__ = [
    "ARITHMETIC_CONFIG",
    "BenchItem",
    "JsonlItemError",
    "arithmetic_items",
    "load_jsonl_items",
]

# The project's pilot configuration: one-digit sums and differences (reasoning-gym draws "one digit"
# operands from 0..10), on which voting measurably helps the embedded 135M model (greedy 0.40,
# majority of 8 0.65, of 16 0.75 over 60 items).
ARITHMETIC_CONFIG: dict[str, Any] = {
    "min_terms": 2,
    "max_terms": 2,
    "min_digits": 1,
    "max_digits": 1,
    "operators": ("+", "-"),
    "allow_parentheses": False,
    "allow_negation": False,
}


@dataclass(frozen=True)
class BenchItem:
    """One question with its expected answer.

    Attributes:
        index: the item's position in the run (its line number's order for a JSONL file).
        question: the question text, without any answer-format instruction.
        answer: the expected final answer.
        metadata: where it came from (reasoning-gym's entry metadata, or the JSONL line number).
    """

    index: int
    question: str
    answer: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def is_right(self, answer: str | None) -> bool:
        """Whether an extracted answer equals the expected one (numbers compared as numbers)."""
        return answer is not None and same_answer(answer, self.answer)


class JsonlItemError(ValueError):
    """A line of a JSONL items file is not ``{"question": ..., "answer": ...}``; the message names the line."""


def arithmetic_items(count: int = 60, *, seed: int = 2024, **overrides: Any) -> list[BenchItem]:
    """``count`` items of reasoning-gym's ``basic_arithmetic`` in the pilot configuration (offline, procedural).

    Args:
        count: how many items.
        seed: reasoning-gym's seed; the same seed gives the same items.
        **overrides: changes to :data:`ARITHMETIC_CONFIG` (e.g. ``max_digits=2``).

    Example:
        >>> [item.question for item in arithmetic_items(2, seed=2024)]
        ['Calculate 9 + 4.', 'Calculate 2 + 8.']
    """
    if count < 1:
        raise ValueError(f"need at least one item, got {count}")
    from ttc_plugins._extras import require

    reasoning_gym = require("reasoning_gym", extra="bench", adapter="ttc_plugins.bench")
    dataset = reasoning_gym.create_dataset(
        "basic_arithmetic", size=count, seed=seed, **{**ARITHMETIC_CONFIG, **overrides}
    )
    return [
        BenchItem(index=i, question=entry["question"], answer=str(entry["answer"]), metadata=dict(entry["metadata"]))
        for i, entry in enumerate(dataset)
    ]


def _parse_line(text: str, line_number: int, path: Path) -> BenchItem | None:
    if not text.strip():
        return None  # blank lines (a trailing newline, spacing) carry no item
    where = f"{path}:{line_number}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise JsonlItemError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise JsonlItemError(
            f'{where}: expected an object {{"question": ..., "answer": ...}}, got {type(record).__name__}'
        )
    missing = [key for key in ("question", "answer") if key not in record]
    if missing:
        raise JsonlItemError(f"{where}: missing {' and '.join(repr(key) for key in missing)}")
    question, answer = record["question"], record["answer"]
    if not isinstance(question, str) or not question.strip():
        raise JsonlItemError(f"{where}: 'question' must be non-empty text, got {question!r}")
    if isinstance(answer, bool) or not isinstance(answer, str | int | float) or not str(answer).strip():
        raise JsonlItemError(f"{where}: 'answer' must be non-empty text or a number, got {answer!r}")
    return BenchItem(index=0, question=question, answer=str(answer), metadata={"line": line_number})


def load_jsonl_items(path: str | os.PathLike[str], limit: int | None = None) -> list[BenchItem]:
    """Read ``{"question": ..., "answer": ...}`` items, one JSON object a line (blank lines skipped).

    Args:
        path: the JSONL file.
        limit: keep only the first ``limit`` items.

    Raises:
        JsonlItemError: a bad line (with its path and line number), or a file without items.
        OSError: the file cannot be read.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        ...     _ = f.write('{"question": "What is 2 + 2?", "answer": 4}\\n')
        >>> load_jsonl_items(f.name)[0].answer
        '4'
    """
    path = Path(path)
    items: list[BenchItem] = []
    with path.open(encoding="utf-8") as lines:
        for line_number, text in enumerate(lines, start=1):
            item = _parse_line(text, line_number, path)
            if item is None:
                continue
            items.append(
                BenchItem(index=len(items), question=item.question, answer=item.answer, metadata=item.metadata)
            )
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise JsonlItemError(f"{path}: no items (expected one JSON object per line)")
    return items
