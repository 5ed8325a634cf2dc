"""Replay self-consistency's vote on samples already drawn: fewer samples, and adaptive stopping rules.

A live ``sc@16`` row records its 16 samples' answers and tokens. Voting over the first k of them is
exactly what ``sc@k`` would have done with those samples, and walking through them one at a time
shows where an adaptive rule would have stopped. So one run of ``sc@16`` measures the whole
accuracy-versus-samples curve and several stopping rules on the same samples (paired, and without
drawing a sample more), which is how the project's pilot measured maj@k.

The replayed rows are named after their source: ``sc@16:maj@4`` (the vote over the first 4),
``sc@16:stop-unbeatable`` (the rule ``adaptive-sc`` uses), ``sc@16:stop-beta.95`` and lower
confidences (the Beta rule, at least 4 samples, as ``adaptive-beta-sc`` uses). Each counts the
calls of the samples it used and their tokens: each sample's own where the row recorded them, else
the row's mean per sample (for samples drawn with a provider's ``n=``, which share one usage figure;
the samples are independent draws, so the mean is the expected cost of each). A replayed adaptive
rule sees one sample at a time; a live run with several samples in flight can draw one or two more
before it stops.

Example:
    >>> from ttc_plugins.bench.records import ItemResult
    >>> row = ItemResult(method="sc@4", item=0, question="q", expected="7", answer="7", correct=True, failed=False,
    ...                  stop_reason="done", sample_answers=["7", "7", "7", "8"], sample_tokens=[[10, 5]] * 4)
    >>> [(r.method, r.answer, r.calls) for r in replay_votes([row], confidences=(0.9,))]
    [('sc@4:maj@1', '7', 1), ('sc@4:maj@2', '7', 2), ('sc@4:stop-unbeatable', '7', 3), ('sc@4:stop-beta.90', '7', 4)]
"""

from __future__ import annotations

from collections.abc import Sequence

from ttc_plugins.answers import group_answers, same_answer
from ttc_plugins.bench.records import ItemResult
from ttc_plugins.strategies.select import AdaptiveStop, majority_vote

__all__ = ["DEFAULT_CONFIDENCES", "replay_votes"]

DEFAULT_CONFIDENCES = (0.95, 0.9, 0.8)
_BETA_MIN_SAMPLES = 4  # as the live adaptive-beta-sc rows use


def _prefix_sizes(total: int) -> list[int]:
    """1, 2, 4, ... below ``total`` (the full vote is the source row itself)."""
    sizes, size = [], 1
    while size < total:
        sizes.append(size)
        size *= 2
    return sizes


def _stop_point(answers: Sequence[str | None], rule: AdaptiveStop) -> int:
    """How many samples the rule draws before it stops (all of them if it never does)."""
    total = len(answers)
    for drawn in range(1, total + 1):
        sizes = [len(group) for group in group_answers(answers[:drawn])]
        if rule.should_stop(sizes, drawn, total):
            return drawn
    return total


def _sample_tokens(source: ItemResult) -> list[list[float]]:
    """Each sample's ``[input, output]`` tokens, or the row's mean per sample where it recorded none."""
    count = len(source.sample_answers)
    if len(source.sample_tokens) == count:
        return [[float(a), float(b)] for a, b in source.sample_tokens]
    return [[source.input_tokens / count, source.output_tokens / count]] * count


def _replayed(source: ItemResult, name: str, used: int) -> ItemResult:
    answers = source.sample_answers[:used]
    vote = majority_vote(answers)
    answer = vote.answer if vote is not None else None
    tokens = _sample_tokens(source)[:used]
    return ItemResult(
        method=f"{source.method}:{name}",
        item=source.item,
        question=source.question,
        expected=source.expected,
        answer=answer,
        correct=answer is not None and same_answer(answer, source.expected),
        failed=answer is None,
        error=None if answer is not None else "no sample among the first ones gave an answer",
        input_tokens=round(sum(pair[0] for pair in tokens)),
        output_tokens=round(sum(pair[1] for pair in tokens)),
        calls=used,
        tokens_by_role={"generator": round(sum(sum(pair) for pair in tokens))},
        stop_reason="converged" if used < len(source.sample_answers) else "done",
        samples=used,
        failed_samples=sum(a is None for a in answers),
        sample_answers=list(answers),
        sample_tokens=source.sample_tokens[:used],
    )


def replay_votes(rows: Sequence[ItemResult], *, confidences: Sequence[float] = DEFAULT_CONFIDENCES) -> list[ItemResult]:
    """Replayed rows for every plain self-consistency row (``sc@k``) that recorded all its samples.

    Args:
        rows: a run's rows; rows of other methods, and sc rows stopped early by the budget, are skipped.
        confidences: the Beta rule's confidences to replay.

    Returns:
        For each source row, in order: ``maj@1``, ``maj@2``, ``maj@4``, ... below k, then
        ``stop-unbeatable`` and ``stop-beta.<confidence>`` for each confidence.
    """
    rules = [("stop-unbeatable", AdaptiveStop())]
    rules += [
        (f"stop-beta.{round(c * 100):02d}", AdaptiveStop(rule="beta", confidence=c, min_samples=_BETA_MIN_SAMPLES))
        for c in confidences
    ]
    replayed = []
    for row in rows:
        family, _, k = row.method.partition("@")
        if family != "sc" or not k.isdigit() or row.stop_reason != "done" or len(row.sample_answers) != int(k):
            continue
        replayed += [_replayed(row, f"maj@{size}", size) for size in _prefix_sizes(int(k))]
        replayed += [_replayed(row, name, _stop_point(row.sample_answers, rule)) for name, rule in rules]
    return replayed
