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
from typing import Any, Literal

from ttc_plugins.answers import extract_answer
from ttc_plugins.prompts import FORCING_FINAL_ANSWER, FORCING_WAIT
from ttc_plugins.results import Candidate, StopReason, TTCEvent, TTCResult
from ttc_plugins.strategies.candidates import stops_the_run
from ttc_plugins.strategies.options import check_count
from ttc_plugins.strategies.steps import FamilyLoop, RunLog
from ttc_plugins.tokens import count_tokens

__all__ = [
    "ROLES",
    "Continuation",
    "ForcingRules",
    "NextStep",
    "ThinkingController",
    "ThinkingEnd",
    "cut_to_tokens",
    "forcing_loop",
]

ROLES = ("thinking", "answer")
"""The budget roles of budget forcing's steps: thinking continuations, then the forced answer."""

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


@dataclass(frozen=True)
class Continuation:
    """What a thinking or answer call wrote, as the loop reads it.

    Attributes:
        text: only the new text.
        at_output_cap: the call stopped at its own output cap (``finish_reason="length"``).
        reply: the call's reply itself, for the shell to build its output from (a DSPy prediction's
            other output fields).
    """

    text: str
    at_output_cap: bool = False
    reply: Any = None


def _rejoined(thinking: str, text: str) -> str:
    # A continuation written as a fresh message (re-prompted, a new field value) starts without the space
    # that would separate it from "Wait" or the last word; put it back, unless punctuation follows.
    glued = thinking and text and not thinking[-1].isspace() and not text[0].isspace() and text[0] not in ",.;:!?)"
    return " " + text if glued else text


OutputBuilder = Callable[[ThinkingController, Any], Any]
"""``(controller, the answer call's reply or None) -> the run's output``, each shell its own type."""


def _forced_result(
    controller: ThinkingController, answer: Continuation | None, stop: StopReason, made: list[tuple[int, int]],
    output_of: OutputBuilder, extract: Callable[[Continuation], str | None],
) -> TTCResult:  # fmt: skip
    output = output_of(controller, answer.reply if answer is not None else None)
    extracted = extract(answer) if answer is not None else None
    candidate = Candidate(index=0, output=output, answer=extracted, lineage=made)
    return TTCResult(
        output=output, answer=extracted, candidates=[candidate], chosen=0, stop_reason=stop,
        events=list(controller.events),
    )  # fmt: skip


def _answer_in(answer: Continuation) -> str | None:
    # The answer call writes the answer itself; a marked one ("Answer: 7", \boxed{}) is read as such.
    return extract_answer(answer.text) or answer.text.strip() or None


def forcing_loop(
    conversation: Any,
    *,
    rules: ForcingRules,
    output_of: OutputBuilder,
    count: TokenCounter = count_tokens,
    rejoin: bool = False,
    extract: Callable[[Continuation], str | None] = _answer_in,
) -> FamilyLoop:
    """Budget forcing's decisions as a step generator: think in continuations, then force the answer.

    ==========  ========  ===========================================================  ==============
    target      role      payload                                                      reply
    ==========  ========  ===========================================================  ==============
    ``think``   thinking  ``{"conversation", "thinking": so far, "max_tokens": cap}``  a Continuation
    ``answer``  answer    ``{"conversation", "answer_prefix", "max_tokens"}``          a Continuation
    ==========  ========  ===========================================================  ==============

    Each thinking call's cap is what is left of ``max_thinking_tokens`` (None: no cap); the answer
    call's is ``max_answer_tokens``. A refusal during thinking, with some thinking done, returns the
    thinking so far with stop reason ``"budget"`` (none at all: the refusal is raised); a refused
    answer returns the thinking, unanswered, with ``"budget"``; any other failure is raised, since a
    run has a single line of reasoning to lose. The candidate's lineage lists every call that wrote it.

    Args:
        conversation: what the model is asked (the user's input), passed on in every payload.
        rules: the limits.
        output_of: builds the run's output (see :data:`OutputBuilder`).
        count: the token counter the limits are measured with.
        rejoin: put back the space a fresh message drops before the next words (re-prompting, DSPy).
        extract: the answer from the answer call's :class:`Continuation` (by default its marked final
            answer, else its stripped text).

    Example:
        >>> from ttc_plugins.strategies.steps import drive
        >>> replies = iter([Continuation("3 + 4 = 7."), Continuation(" Yes, 7."), Continuation(" 7")])
        >>> rules = ForcingRules(min_thinking_tokens=8, max_waits=1)
        >>> words = lambda text: len(text.split())  # a token per word, for the example
        >>> text_of = lambda controller, reply: controller.text
        >>> loop = forcing_loop("What is 3 + 4?", rules=rules, output_of=text_of, count=words)
        >>> result = drive(loop, lambda call: next(replies))
        >>> result.output, result.answer
        ('3 + 4 = 7. Wait Yes, 7.\\nFinal Answer: 7', '7')
    """
    controller = ThinkingController(rules, count=count)
    log = RunLog(events=controller.events)
    made: list[tuple[int, int]] = []
    finish = (output_of, extract)
    next_step: NextStep = "think"
    while next_step == "think":
        payload = {"conversation": conversation, "thinking": controller.thinking, "max_tokens": controller.allowance()}
        (reply,) = yield log.step("thinking", "think", [payload])
        if isinstance(reply, BaseException):
            if stops_the_run(reply) and controller.thinking:
                return _forced_result(controller, None, "budget", made, *finish)
            raise reply
        made.append((log.last, 0))
        text = _rejoined(controller.thinking, reply.text) if rejoin else reply.text
        next_step = controller.add_thinking(text, hit_output_cap=reply.at_output_cap)
    payload = {"conversation": conversation, "answer_prefix": controller.answer_prefix,
               "max_tokens": rules.max_answer_tokens}  # fmt: skip
    (reply,) = yield log.step("answer", "answer", [payload])
    if isinstance(reply, BaseException):
        if stops_the_run(reply):
            return _forced_result(controller, None, "budget", made, *finish)
        raise reply
    made.append((log.last, 0))
    controller.add_answer(reply.text)
    return _forced_result(controller, reply, "done", made, *finish)
