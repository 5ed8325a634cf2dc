"""Proposal prompting as plain data: chain-of-thought, chain-of-draft, step-back and analogical.

Each style turns a question (and, for the few-shot styles, worked examples) into the chat messages
to send, as ``(role, content)`` pairs that any framework shell passes on unchanged. Each also says
how its final answer is marked, so :func:`ttc_plugins.answers.extract_answer` finds it:

=================  ============  ==========================================================
style              marker        messages
=================  ============  ==========================================================
chain-of-thought   ``Answer:``   "think step by step"; few-shot worked examples on request
chain-of-draft     ``####``      "five words at most per step"; few-shot drafts by default,
                                 because zero-shot CoD degrades on small models
step-back          ``Answer:``   two calls: the general principle, then the answer using it
analogical         ``Answer:``   "recall a related problem and its solution, then solve this"
=================  ============  ==========================================================

Example:
    >>> [role for role, _ in chain_of_draft_messages("What is 2 + 3?")]
    ['system', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user']
    >>> chain_of_draft_messages("What is 2 + 3?")[-1]
    ('user', 'What is 2 + 3?')
    >>> CHAIN_OF_DRAFT.answer_marker
    '####'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ttc_plugins.prompts import (
    ANALOGICAL_USER,
    COD_EXAMPLES,
    COD_SYSTEM,
    COT_EXAMPLES,
    COT_SYSTEM,
    STEP_BACK_ANSWER_USER,
    STEP_BACK_PRINCIPLE_USER,
    delimit_untrusted,
)

__all__ = [
    "ANALOGICAL_ANSWER_MARKER",
    "CHAIN_OF_DRAFT",
    "CHAIN_OF_THOUGHT",
    "STEP_BACK_ANSWER_MARKER",
    "ChatMessage",
    "PromptStyle",
    "WorkedExample",
    "analogical_messages",
    "chain_of_draft_messages",
    "chain_of_thought_messages",
    "step_back_answer_messages",
    "step_back_principle_messages",
]

ChatMessage = tuple[str, str]
"""One chat message as ``(role, content)``; roles are ``"system"``, ``"user"`` and ``"assistant"``."""

WorkedExample = tuple[str, str]
"""A few-shot example as ``(question, solution)``, the solution ending with the style's answer marker."""


@dataclass(frozen=True)
class PromptStyle:
    """A prompting style: its instruction, its default worked examples and its final-answer marker.

    Args:
        name: the style's name (also the shell's run name).
        system: the system instruction.
        answer_marker: what precedes the final answer in a reply (``extract_answer`` looks for it).
        examples: the worked examples used when few-shot is asked for.
    """

    name: str
    system: str
    answer_marker: str
    examples: tuple[WorkedExample, ...] = ()

    def messages(
        self, question: str, *, few_shot: bool, examples: Sequence[WorkedExample] | None = None
    ) -> list[ChatMessage]:
        """The system instruction, each worked example as a user/assistant turn, then the question.

        Args:
            question: the question to answer.
            few_shot: include worked examples.
            examples: the examples to use instead of the style's own (only read when ``few_shot``).

        Raises:
            ValueError: few-shot was asked for and there are no examples, or an example is not a pair.
        """
        messages: list[ChatMessage] = [("system", self.system)]
        if few_shot:
            shots = tuple(self.examples if examples is None else examples)
            if not shots:
                raise ValueError(f"{self.name}: few_shot=True needs at least one (question, solution) example")
            for shot in shots:
                if not (isinstance(shot, tuple | list) and len(shot) == 2 and all(isinstance(s, str) for s in shot)):
                    raise ValueError(f"{self.name}: a worked example is a (question, solution) pair, got {shot!r}")
                messages += [("user", shot[0]), ("assistant", shot[1])]
        messages.append(("user", question))
        return messages


CHAIN_OF_THOUGHT = PromptStyle("chain_of_thought", COT_SYSTEM, "Answer:", COT_EXAMPLES)
CHAIN_OF_DRAFT = PromptStyle("chain_of_draft", COD_SYSTEM, "####", COD_EXAMPLES)
# Step-back and analogical prompts ask for the same final line as chain-of-thought.
STEP_BACK_ANSWER_MARKER = ANALOGICAL_ANSWER_MARKER = CHAIN_OF_THOUGHT.answer_marker


def chain_of_thought_messages(
    question: str, *, few_shot: bool = False, examples: Sequence[WorkedExample] | None = None
) -> list[ChatMessage]:
    """Chain-of-thought: "think step by step", zero-shot by default or with worked examples.

    Example:
        >>> chain_of_thought_messages("What is 2 + 3?")
        [('system', "Think step by step, then give the final answer on the last line in the form 'Answer: <answer>'."), ('user', 'What is 2 + 3?')]
    """  # noqa: E501
    return CHAIN_OF_THOUGHT.messages(question, few_shot=few_shot, examples=examples)


def chain_of_draft_messages(
    question: str, *, few_shot: bool = True, examples: Sequence[WorkedExample] | None = None
) -> list[ChatMessage]:
    """Chain-of-draft: minimal drafts of five words at most per step, the answer after ``####``.

    Few-shot by default: the paper finds zero-shot CoD loses much of its accuracy, most on small models.

    Example:
        >>> chain_of_draft_messages("What is 2 + 3?", examples=[("What is 1 + 1?", "1 + 1 = 2.\\n#### 2")])[1:]
        [('user', 'What is 1 + 1?'), ('assistant', '1 + 1 = 2.\\n#### 2'), ('user', 'What is 2 + 3?')]
    """
    return CHAIN_OF_DRAFT.messages(question, few_shot=few_shot, examples=examples)


def step_back_principle_messages(question: str) -> list[ChatMessage]:
    """Step-back, first call: ask for the general principle behind the question, not the answer.

    Example:
        >>> step_back_principle_messages("What is 2 + 3?")[0][1].startswith("Before solving")
        True
    """
    return [("user", STEP_BACK_PRINCIPLE_USER.format(question=delimit_untrusted(question, "question")))]


def step_back_answer_messages(question: str, principle: str) -> list[ChatMessage]:
    """Step-back, second call: answer the question using the principle from the first call.

    The principle is the model's own earlier output; it is fenced so that it cannot close its block.

    Example:
        >>> step_back_answer_messages("What is 2 + 3?", "Addition combines amounts.")[0][1].splitlines()[2]
        'Addition combines amounts.'
    """
    content = STEP_BACK_ANSWER_USER.format(
        question=delimit_untrusted(question, "question"), principle=delimit_untrusted(principle, "principle")
    )
    return [("user", content)]


def analogical_messages(question: str) -> list[ChatMessage]:
    """Analogical prompting: recall a related solved problem, then solve this one the same way.

    Example:
        >>> "recall a related problem" in analogical_messages("What is 2 + 3?")[0][1]
        True
    """
    return [("user", ANALOGICAL_USER.format(question=delimit_untrusted(question, "question")))]
