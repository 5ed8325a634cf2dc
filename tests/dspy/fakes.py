"""DSPy LMs whose provider reports usage, built on DSPy's own engine interface (no network)."""

from __future__ import annotations

import itertools
import re
import threading
import time

import dspy
from dspy.lm15 import Message, Response, TextPart, Usage


class UsageEngine:
    """Answers every request with ``answer`` and reports usage; it can fail its first calls, or answer slowly."""

    def __init__(
        self,
        answer: str = "4",
        input_tokens: int = 17,
        output_tokens: int = 3,
        fail_first: int = 0,
        reasoning: str | None = None,
        delay: float = 0.0,
    ):
        self.answer = answer
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.fail_first = fail_first
        self.reasoning = reasoning  # set it to answer ChainOfThought, whose replies need a reasoning field
        self.delay = delay
        self.calls = 0
        self.active = 0
        self.peak_active = 0  # the most requests in flight at once: shows whether callers ran in parallel
        self._lock = threading.Lock()

    def complete(self, request):
        with self._lock:
            self.calls += 1
            number = self.calls
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        try:
            time.sleep(self.delay)
            if number <= self.fail_first:
                raise RuntimeError(f"provider error on call {number}")
        finally:
            with self._lock:
                self.active -= 1
        text = f"[[ ## answer ## ]]\n{self.answer}\n\n[[ ## completed ## ]]"
        if self.reasoning is not None:
            text = f"[[ ## reasoning ## ]]\n{self.reasoning}\n\n{text}"
        usage = Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.input_tokens + self.output_tokens,
        )
        return Response(
            id=None, model="fake-usage", message=Message.assistant([TextPart(text)]), finish_reason="stop", usage=usage
        )

    def close(self):
        pass


def _usage_response(text: str, input_tokens: int, output_tokens: int) -> Response:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)
    message = Message.assistant([TextPart(text)])
    return Response(id=None, model="fake-usage", message=message, finish_reason="stop", usage=usage)


def _fields(**values: str) -> str:
    """A ChatAdapter reply with these output fields."""
    return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items()) + "[[ ## completed ## ]]"


_CANDIDATE_ANSWER = re.compile(r"<candidate>.*?^answer: (.*?)$.*?</candidate>", re.DOTALL | re.MULTILINE)


class GradingEngine:
    """Answers generator calls with ``answers`` in turn, and judge calls (a prompt holding a candidate)
    with a grade: ``good_score`` when the candidate's answer is ``truth``, else ``bad_score``.

    Grades depend on the candidate only, so results do not depend on the order parallel calls arrive in.
    ``judge_prompts`` keeps each judge call's last message, to check what the judge was shown.
    """

    def __init__(self, answers, truth: str, *, good_score: str = "10", bad_score: str = "1", usage=(17, 3)):
        self._answers = itertools.cycle(answers)
        self.truth = truth
        self.good_score = good_score
        self.bad_score = bad_score
        self.usage = usage
        self.generator_calls = 0
        self.judge_prompts: list[str] = []
        self._lock = threading.Lock()

    def complete(self, request):
        last = request.messages[-1].text or ""
        found = _CANDIDATE_ANSWER.search(last)
        with self._lock:
            if found is None:
                self.generator_calls += 1
                answer = next(self._answers)
                text = _fields(reasoning=f"thinking about {answer}", answer=answer)
            else:
                self.judge_prompts.append(last)
                right = found.group(1).strip() == self.truth
                score = self.good_score if right else self.bad_score
                text = _fields(critique="matches" if right else "wrong", is_correct=str(right), score=score)
        return _usage_response(text, *self.usage)

    def close(self):
        pass


class ScriptedReplyEngine:
    """Answers requests with ``replies`` in turn (cycled), raw, whatever format the adapter asked for;
    ``prompts`` keeps each request's last message."""

    def __init__(self, *replies: str, usage=(17, 3)):
        self._replies = itertools.cycle(replies)
        self.usage = usage
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def complete(self, request):
        with self._lock:
            self.prompts.append(request.messages[-1].text or "")
            reply = next(self._replies)
        return _usage_response(reply, *self.usage)

    def close(self):
        pass


class AsyncUsageEngine:
    def __init__(self, sync: UsageEngine):
        self.sync = sync

    async def complete(self, request):
        return self.sync.complete(request)

    async def aclose(self):
        pass


def usage_lm(engine: UsageEngine | GradingEngine | ScriptedReplyEngine, max_tokens: int = 20) -> dspy.LM:
    return dspy.LM(
        "openai/fake-usage",
        engine=engine,
        async_engine=AsyncUsageEngine(engine),
        cache=False,
        max_tokens=max_tokens,
        num_retries=0,
    )
