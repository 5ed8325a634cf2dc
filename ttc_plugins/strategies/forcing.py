"""Budget forcing (s1, Muennighoff et al. 2025) as pure logic over token counts.

The model thinks in one or more continuations of the same text. The controller decides, after each
one, whether thinking goes on or ends, and always ends it with the answer marker, after which the
model writes its answer:

- **cap**: thinking stops at exactly ``max_thinking_tokens`` (a longer continuation is cut there)
  and the answer is forced by appending "Final Answer:";
- **extend**: a model that stops before ``min_thinking_tokens`` gets "Wait" appended and continues,
  at most ``max_waits`` times.

Thinking tokens (everything before "Final Answer:", the appended Waits included) and answer tokens
are counted separately, with one counting function (``count_tokens`` by default).

Example:
    >>> rules = ForcingRules(min_thinking_tokens=8, max_thinking_tokens=40, max_waits=2)
    >>> controller = ThinkingController(rules, count=lambda text: len(text.split()))  # words, for the example
    >>> controller.add_thinking("3 + 4 = 7.")
    'think'
    >>> controller.thinking
    '3 + 4 = 7. Wait'
    >>> controller.add_thinking(", let me check: 4 + 3 is 7 too.")
    'answer'
    >>> controller.answer_prefix, controller.thinking_tokens, controller.waits, controller.thinking_end
    ('3 + 4 = 7. Wait, let me check: 4 + 3 is 7 too.\\nFinal Answer:', 15, 1, 'model_stopped')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ttc_plugins.prompts import FORCING_FINAL_ANSWER, FORCING_WAIT
from ttc_plugins.results import TTCEvent
from ttc_plugins.strategies.options import check_count
from ttc_plugins.tokens import count_tokens

__all__ = ["ForcingRules", "NextStep", "ThinkingController", "ThinkingEnd", "cut_to_tokens"]

NextStep = Literal["think", "answer"]
ThinkingEnd = Literal["cap", "length", "model_stopped", "waits_used"]
"""Why thinking ended: cut at the cap; the model hit the call's own output cap; it stopped on its own
with at least ``min_thinking_tokens`` (or no minimum); it stopped short but every Wait was used."""

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ForcingRules:
    """The limits of one budget-forced run.

    Args:
        min_thinking_tokens: below this, a model that stops thinking is made to go on with "Wait".
        max_thinking_tokens: thinking is cut at exactly this many tokens (None: no cap).
        max_waits: the most times "Wait" is appended.
        max_answer_tokens: the output cap of the answer call (None: the model's own).
        wait: the text appended to extend thinking.
        final_answer: the text appended to end thinking and force the answer.

    Raises:
        ValueError: a negative or non-integer limit, a minimum above the cap, a minimum with no
            Waits to enforce it, or empty marker texts.
    """

    min_thinking_tokens: int = 0
    max_thinking_tokens: int | None = None
    max_waits: int = 0
    max_answer_tokens: int | None = None
    wait: str = FORCING_WAIT
    final_answer: str = FORCING_FINAL_ANSWER

    def __post_init__(self) -> None:
        check_count(self.min_thinking_tokens, name="min_thinking_tokens", minimum=0, maximum=None)
        check_count(self.max_waits, name="max_waits", minimum=0)
        for field in ("max_thinking_tokens", "max_answer_tokens"):
            check_count(getattr(self, field), name=field, maximum=None, optional=True)
        if self.max_thinking_tokens is not None and self.min_thinking_tokens > self.max_thinking_tokens:
            raise ValueError(
                f"min_thinking_tokens ({self.min_thinking_tokens}) cannot exceed "
                f"max_thinking_tokens ({self.max_thinking_tokens})"
            )
        if self.min_thinking_tokens and not self.max_waits:
            raise ValueError(
                "min_thinking_tokens needs max_waits >= 1: appending 'Wait' is how the minimum is enforced"
            )
        for field in ("wait", "final_answer"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{field} must be a non-empty string, got {value!r}")


def _join(text: str, addition: str, separator: str) -> str:
    # s1 appends "Wait" straight onto the output; a separator keeps it from gluing onto the last word.
    return addition if not text else text + ("" if text[-1].isspace() else separator) + addition


def cut_to_tokens(text: str, max_tokens: int, count: TokenCounter = count_tokens, *, keep: int = 0) -> str:
    """The longest prefix of ``text`` that ``count`` puts at no more than ``max_tokens``.

    Args:
        text: the text to cut.
        max_tokens: the most tokens the prefix may have.
        count: the token counter (the same one the cap is measured with).
        keep: a prefix length known to fit (already-accepted thinking), so the search starts there.

    Example:
        >>> cut_to_tokens("one two three four", 7, count=len)  # one "token" per character, for the example
        'one two'
    """
    if count(text) <= max_tokens:
        return text
    low, high = keep, len(text)  # count(text[:low]) fits, count(text[:high]) does not
    while high - low > 1:
        middle = (low + high) // 2
        if count(text[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle
    return text[:low]


class ThinkingController:
    """Decides, continuation by continuation, whether the model thinks on or answers now.

    Use one controller per run::

        while controller.add_thinking(continue_thinking(controller.thinking, controller.allowance())) == "think":
            pass
        controller.add_answer(answer_after(controller.answer_prefix))

    Args:
        rules: the limits.
        count: the token counter for thinking and answer tokens.
    """

    def __init__(self, rules: ForcingRules, count: TokenCounter = count_tokens) -> None:
        self.rules = rules
        self.count = count
        self.thinking = ""
        self.thinking_tokens = 0
        self.waits = 0
        self.continuations = 0
        self.thinking_end: ThinkingEnd | None = None
        self.answer: str | None = None
        self.answer_tokens = 0
        self.events: list[TTCEvent] = []

    def allowance(self) -> int | None:
        """The most tokens the next thinking continuation may produce (None: no cap)."""
        cap = self.rules.max_thinking_tokens
        return None if cap is None else cap - self.thinking_tokens

    def add_thinking(self, text: str, *, hit_output_cap: bool = False) -> NextStep:
        """Record one thinking continuation and say what comes next.

        Args:
            text: what the model wrote in this continuation (only the new text).
            hit_output_cap: the call stopped at its own output cap (e.g. ``finish_reason="length"``):
                its tokenizer says the allowance is used up, even where ``count`` says otherwise.

        Returns:
            ``"think"`` when "Wait" was appended and the model should continue ``thinking``;
            ``"answer"`` when thinking is over and the model should continue ``answer_prefix``.
        """
        if self.thinking_end is not None:
            raise RuntimeError("thinking is over; add_answer() comes next")
        self.continuations += 1
        cap = self.rules.max_thinking_tokens
        thinking = self.thinking + text
        tokens = self.count(thinking)
        if cap is not None and tokens >= cap:
            thinking = cut_to_tokens(thinking, cap, self.count, keep=len(self.thinking))
            self._set_thinking(thinking, cut=tokens > cap)
            return self._end("cap")
        self._set_thinking(thinking, cut=False)
        if hit_output_cap:
            return self._end("length")
        if self.thinking_tokens >= self.rules.min_thinking_tokens:
            return self._end("model_stopped")
        if self.waits >= self.rules.max_waits:
            return self._end("waits_used")
        extended = _join(self.thinking, self.rules.wait, " ")
        extended_tokens = self.count(extended)
        if cap is not None and extended_tokens >= cap:
            return self._end("cap")  # a Wait would leave no room to think after it
        self.thinking, self.thinking_tokens = extended, extended_tokens
        self.waits += 1
        self.events.append(TTCEvent(kind="wait", data={"waits": self.waits, "thinking_tokens": extended_tokens}))
        return "think"

    def _set_thinking(self, thinking: str, *, cut: bool) -> None:
        self.thinking, self.thinking_tokens = thinking, self.count(thinking)
        data = {"continuation": self.continuations, "thinking_tokens": self.thinking_tokens, "cut": cut}
        self.events.append(TTCEvent(kind="thinking", data=data))

    def _end(self, reason: ThinkingEnd) -> NextStep:
        self.thinking_end = reason
        self.events.append(
            TTCEvent(kind="thinking_end", data={"reason": reason, "thinking_tokens": self.thinking_tokens})
        )
        return "answer"

    @property
    def answer_prefix(self) -> str:
        """The thinking with the answer marker appended: what the answer call continues."""
        if self.thinking_end is None:
            raise RuntimeError("thinking is not over yet")
        return _join(self.thinking, self.rules.final_answer, "\n")

    def add_answer(self, text: str) -> None:
        """Record the answer the model wrote after ``answer_prefix``."""
        if self.thinking_end is None:
            raise RuntimeError("thinking is not over yet")
        if self.answer is not None:
            raise RuntimeError("the answer was already recorded")
        self.answer, self.answer_tokens = text, self.count(text)
        self.events.append(TTCEvent(kind="answer", data={"answer_tokens": self.answer_tokens}))

    @property
    def text(self) -> str:
        """The whole reply: the thinking, then the answer marker and the answer (if there is one yet)."""
        if self.answer is None:
            return self.thinking
        answer = self.answer if not self.answer or self.answer[0].isspace() else " " + self.answer
        return self.answer_prefix + answer
