"""A DSPy LM whose provider reports usage, built on DSPy's own engine interface (no network)."""

from __future__ import annotations

import threading

import dspy
from dspy.lm15 import Message, Response, TextPart, Usage


class UsageEngine:
    """Answers every request with ``answer`` and reports ``input_tokens``/``output_tokens`` of usage."""

    def __init__(self, answer: str = "4", input_tokens: int = 17, output_tokens: int = 3, fail_first: int = 0):
        self.answer = answer
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.fail_first = fail_first
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, request):
        with self._lock:
            self.calls += 1
            number = self.calls
        if number <= self.fail_first:
            raise RuntimeError(f"provider error on call {number}")
        text = f"[[ ## answer ## ]]\n{self.answer}\n\n[[ ## completed ## ]]"
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


class AsyncUsageEngine:
    def __init__(self, sync: UsageEngine):
        self.sync = sync

    async def complete(self, request):
        return self.sync.complete(request)

    async def aclose(self):
        pass


def usage_lm(engine: UsageEngine, max_tokens: int = 20) -> dspy.LM:
    return dspy.LM(
        "openai/fake-usage",
        engine=engine,
        async_engine=AsyncUsageEngine(engine),
        cache=False,
        max_tokens=max_tokens,
        num_retries=0,
    )
