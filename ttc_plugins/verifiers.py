"""Verifiers: anything that scores a candidate answer to a question.

The protocol is deliberately small (as httpx's ``MockTransport(handler)`` is): a verifier is a plain
function ``(question, candidate) -> Verdict | float | bool``, sync or async, or a LangChain Runnable
taking ``{"question": ..., "candidate": ...}`` (see ``ttc_plugins.langchain.llm_judge``). Whatever
it returns goes through :func:`~ttc_plugins.results.parse_verdict`: a reply that is not a verdict
fails that candidate's verification, never the whole run.

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> is_seven = programmatic(lambda question, answer: answer == "7")
    >>> is_seven("What is 3 + 4?", "Answer: 7").score, is_seven("What is 3 + 4?", "8").is_correct
    (1.0, False)
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from ttc_plugins.answers import extract_answer
from ttc_plugins.prompts import JUDGE_SCALE
from ttc_plugins.results import InvalidVerdict, Verdict, parse_verdict, short_repr
from ttc_plugins.strategies.candidates import output_text

__all__ = ["Verifier", "first_verdict_object", "parse_judge_reply", "programmatic", "question_text"]

_SCORE_TEXT = re.compile(r"\bscore\b\W{0,3}(\d+(?:\.\d+)?)(?:\s*(?:/|out of)\s*(\d+))?", re.IGNORECASE)
_FRACTION_TEXT = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+)\b", re.IGNORECASE)

Verifier = Callable[[Any, Any], "Verdict | float | bool | Awaitable[Verdict | float | bool]"]
"""``(question, candidate) -> Verdict | float | bool`` (or an awaitable of one)."""


def programmatic(
    check: Callable[[Any, str | None], bool | float | Verdict],
    *,
    on: str = "answer",
    name: str | None = None,
) -> Callable[[Any, Any], Verdict]:
    """Turn an exact check (a test suite, a calculator, a schema) into a verifier.

    Args:
        check: ``(question, text) -> bool | float in [0, 1] | Verdict``. An exception it raises
            means the candidate failed the check (score 0), with the exception as the critique.
        on: what ``text`` is: ``"answer"`` (the extracted final answer) or ``"output"`` (the whole
            output text, e.g. a program to run).
        name: shown in critiques; defaults to the check's own name.

    Example:
        >>> in_range = programmatic(lambda q, answer: 0 <= float(answer) <= 10, name="in range")
        >>> in_range("pick a number", "Answer: 42").critique
        'in range: failed'
    """
    if on not in ("answer", "output"):
        raise ValueError(f"programmatic(on=...) must be 'answer' or 'output', got {on!r}")
    label = name or getattr(check, "__name__", "check")
    if inspect.iscoroutinefunction(check):
        raise TypeError("programmatic() takes a plain function; pass an async verifier to the strategy directly")

    def verify(question: Any, candidate: Any) -> Verdict:
        text = output_text(candidate)
        subject = extract_answer(text) if on == "answer" else text
        try:
            outcome = check(question, subject)
        except Exception as error:  # the candidate broke the check: that is a failed check, not a crash
            return Verdict(score=0.0, is_correct=False, critique=f"{label}: raised {error!r}")
        verdict = parse_verdict(outcome)
        if verdict.critique:
            return verdict
        passed = verdict.is_correct if verdict.is_correct is not None else verdict.score >= 0.5
        return verdict.model_copy(update={"critique": f"{label}: {'passed' if passed else 'failed'}"})

    verify.__name__ = f"programmatic[{label}]"
    return verify


def _scaled(score: Any, scale: float, reply: Any) -> float:
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            raise InvalidVerdict(
                f"judge gave a non-numeric score {short_repr(score)} in {short_repr(reply, 200)}"
            ) from None
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidVerdict(f"judge gave a non-numeric score {short_repr(score)} in {short_repr(reply, 200)}")
    if not 0 <= score <= scale:
        raise InvalidVerdict(f"judge gave a score outside 0-{scale:g}: {short_repr(score)}")
    return float(score) / scale


def _from_mapping(reply: Mapping[str, Any], scale: float) -> Verdict:
    if "score" not in reply:
        raise InvalidVerdict(f"judge reply has no score: {short_repr(dict(reply), 200)}")
    is_correct = reply.get("is_correct")
    critique = reply.get("critique") or ""
    return Verdict(
        score=_scaled(reply["score"], scale, reply),
        is_correct=is_correct if isinstance(is_correct, bool) else None,
        critique=str(critique),
    )


def _scored_objects(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects with a ``score`` in ``text``, in reading order, a verdict nested in another object included."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:  # broken JSON, or an int too long for Python to read (10**5000): not a verdict
            value, end = None, start + 1
        if isinstance(value, dict) and "score" in value:
            yield value  # and carry on after it: what it holds (a quoted score) is part of it
        else:
            end = start + 1  # look inside: {"verdict": {"score": 7}}
        start = text.find("{", end)


def first_verdict_object(text: str, *, scale: float = JUDGE_SCALE) -> dict[str, Any] | None:
    """The first JSON object in ``text`` that is a valid judge reply (a score in 0..scale), else None.

    The first, not the last: a judge that quotes the candidate's own ``{"score": 10}`` after its
    verdict is not scored 10. Objects that are not valid replies (no score, a score out of range,
    broken JSON) are skipped.

    Example:
        >>> first_verdict_object('{"score": 2, "critique": "wrong"} It asked for {"score": 10}.')
        {'score': 2, 'critique': 'wrong'}
    """
    for value in _scored_objects(text):
        try:
            _from_mapping(value, scale)
        except InvalidVerdict:
            continue
        return value
    return None


def parse_judge_reply(reply: Any, *, scale: float = JUDGE_SCALE) -> Verdict:
    """Read an LLM judge's reply, structured or free text, as a :class:`Verdict` (score rescaled to [0, 1]).

    Accepts a mapping or pydantic object with ``score`` (0..scale), ``is_correct`` and ``critique``;
    or text holding such a JSON object (the first valid one, see :func:`first_verdict_object`); or
    text such as "Score: 7/10" or "8 out of 10". Raises :class:`~ttc_plugins.results.InvalidVerdict`
    when there is no usable score, so the candidate's verification fails instead of the run.

    Example:
        >>> parse_judge_reply('Sure! {"score": 8, "is_correct": true, "critique": "right"}').score
        0.8
        >>> parse_judge_reply("I would give it a score of 3/10.").score
        0.3
    """
    if isinstance(getattr(reply, "content", None), str):
        reply = reply.content  # a chat message: read its text
    if isinstance(reply, BaseModel):
        reply = reply.model_dump()
    if isinstance(reply, Mapping):
        return _from_mapping(reply, scale)
    text = reply
    if not isinstance(text, str):
        raise InvalidVerdict(f"judge replied with {type(reply).__name__}, not text or a mapping")
    verdict = first_verdict_object(text, scale=scale)
    if verdict is not None:
        return _from_mapping(verdict, scale)
    rejected = next(_scored_objects(text), None)
    if rejected is not None:
        return _from_mapping(rejected, scale)  # raises, naming what is wrong with the judge's object
    match = _SCORE_TEXT.search(text) or _FRACTION_TEXT.search(text)
    if match is None:
        raise InvalidVerdict(f"judge reply has no score: {text[:200]!r}")
    out_of = float(match.group(2)) if match.group(2) else scale
    if not 0 < out_of < math.inf:
        raise InvalidVerdict(f"judge reply has a score out of {out_of:g}: {text[:200]!r}")
    return Verdict(score=_scaled(float(match.group(1)), out_of, text), critique=text.strip()[:500])


def question_text(input: Any) -> str:
    """The question a verifier is shown for a strategy's input: the text itself, a ``question`` field,
    the last message's text, or the input as text.

    Example:
        >>> question_text({"question": "What is 2 + 2?", "style": "terse"})
        'What is 2 + 2?'
    """
    if isinstance(input, str):
        return input
    if isinstance(input, Mapping):
        for key in ("question", "input", "query", "problem", "prompt"):
            if isinstance(input.get(key), str):
                return input[key]
        return "\n".join(f"{key}: {value}" for key, value in input.items())
    if hasattr(input, "to_messages"):  # a prompt value
        input = input.to_messages()
    if isinstance(input, list) and input:
        last = input[-1]
        content = last[1] if isinstance(last, tuple) and len(last) == 2 else getattr(last, "content", last)
        return content if isinstance(content, str) else str(content)
    return str(input)
