"""Step-back prompting's two calls, once for every shell: the general principle, then the answer with it.

==============  ==========  ===================================================  ================
target          role        payload                                              reply
==============  ==========  ===================================================  ================
``principle``   step_back   ``{"input": the user's input, "question"}``          the principle
``answer``      generator   ``{"input", "question", "principle": its text}``     the answer
==============  ==========  ===================================================  ================

A failed call is raised: with one line of work, there is nothing paid for to return. The result's
``principle`` event holds the principle; its one candidate's lineage is both calls.

Example:
    >>> from ttc_plugins.strategies.steps import drive
    >>> replies = {"principle": "Addition combines amounts.", "answer": "3 + 4 = 7. Answer: 7"}
    >>> result = drive(step_back_loop("What is 3 + 4?", question="What is 3 + 4?"), lambda call: replies[call.target])
    >>> result.answer, result.events[0].data
    ('7', {'principle': 'Addition combines amounts.'})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ttc_plugins.results import TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, make_candidates, output_text
from ttc_plugins.strategies.steps import FamilyLoop, RunLog

__all__ = ["ROLES", "step_back_loop"]

ROLES = ("step_back", "generator")


def step_back_loop(
    user_input: Any,
    *,
    question: str,
    extract: AnswerExtractor | None = None,
    output_of: Callable[[Any, str], Any] | None = None,
) -> FamilyLoop:
    """Step-back's decisions (see the module docstring).

    Args:
        user_input: what the shell renders its calls from.
        question: the question text.
        extract: ``output -> answer`` for the result's ``answer``.
        output_of: ``(answer reply, principle) -> the run's output``; the answer reply itself by default.
    """
    log = RunLog()
    (principle,) = yield log.step("step_back", "principle", [{"input": user_input, "question": question}])
    if isinstance(principle, BaseException):
        raise principle  # nothing to answer with, and nothing to return
    text = output_text(principle)
    log.event("principle", principle=text)
    (reply,) = yield log.step("generator", "answer", [{"input": user_input, "question": question, "principle": text}])
    if isinstance(reply, BaseException):
        raise reply
    output = output_of(reply, text) if output_of is not None else reply
    candidate = make_candidates([output], start=0, extract=extract)[0]
    candidate.lineage = [(0, 0), (1, 0)]
    return TTCResult(output=output, answer=candidate.answer, candidates=[candidate], chosen=0, events=list(log.events))
