"""What the LangChain strategies show a verifier, and how any verifier becomes a Runnable.

A verifier may be a LangChain Runnable taking ``{"question": ..., "candidate": ...}`` (such as
:func:`~ttc_plugins.langchain.llm_judge`) or a plain function ``(question, candidate) -> Verdict |
float | bool``, sync or async (such as :func:`~ttc_plugins.verifiers.programmatic`). The families'
cores validate each verdict: garbage, an exception or a budget refusal fails that candidate's
verification (kept in the result, marked), never the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ttc_plugins._runnables import as_verifier_runnable
from ttc_plugins.verifiers import question_text

__all__ = ["QuestionFormatter", "as_verifier_runnable", "question_text"]

QuestionFormatter = Callable[[Any], str]
"""Turns a strategy's input into the question text a verifier is shown."""
