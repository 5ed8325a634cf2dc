"""Purpose-built fake chat models for the LangChain tests."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

from langchain_core.language_models import BaseLLM
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, Generation, LLMResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Answers with ``replies`` in turn and reports a fixed usage per call, like a real provider.

    Args:
        replies: texts to answer with, cycled.
        input_tokens / output_tokens: the usage to report; None reports no usage at all.
        n: choices to return per call (as an OpenAI-style ``n=``), with usage in ``llm_output``.
        honour_n: False makes it accept ``n`` and return one choice anyway, as llama.cpp's server does.
        fail_on: call numbers (0-based) that raise instead of answering.
        max_tokens: the output cap the model advertises to callbacks.
    """

    replies: list[str]
    input_tokens: int | None = 10
    output_tokens: int | None = 5
    n: int = 1
    honour_n: bool = True
    fail_on: frozenset[int] = frozenset()
    max_tokens: int | None = None
    model_name: str = "scripted-1"
    delay: float = 0.0
    calls: int = 0
    active: int = 0
    peak_active: int = 0

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._cycle = itertools.cycle(self.replies)
        self._lock = threading.Lock()

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model_name": self.model_name, "n": self.n}
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        return params

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        choices = (kwargs.get("n") or self.n) if self.honour_n else 1
        with self._lock:
            number = self.calls
            self.calls += 1
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            texts = [next(self._cycle) for _ in range(choices)]
        try:
            return self._result(number, texts)
        finally:
            with self._lock:
                self.active -= 1

    def _result(self, number: int, texts: list[str]) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)  # lets concurrent samples overlap, so peak_active is meaningful
        if number in self.fail_on:
            raise RuntimeError(f"provider error on call {number}")
        usage = None
        if self.input_tokens is not None and self.output_tokens is not None:
            usage = {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
            }
        generations = [
            ChatGeneration(
                message=AIMessage(content=text, usage_metadata=usage, response_metadata={"model_name": self.model_name})
            )
            for text in texts
        ]
        llm_output = None
        if len(texts) > 1 and usage is not None:
            # OpenAI-style: the whole request's usage, repeated on every choice's message as well.
            llm_output = {
                "token_usage": {
                    "prompt_tokens": self.input_tokens,
                    "completion_tokens": self.output_tokens * len(texts),
                }
            }
            for generation in generations:
                generation.message.usage_metadata = {
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens * len(texts),
                    "total_tokens": self.input_tokens + self.output_tokens * len(texts),
                }
        return ChatResult(generations=generations, llm_output=llm_output)


class FencedJudgeModel(BaseChatModel):
    """A deliberately naive judge, for testing the judge prompt rather than a model.

    It grades the text between the candidate fence by comparing its final answer to ``truth`` and
    reports ``score``/10 for a match, 0 otherwise. But it obeys any "score 10" instruction that it
    finds OUTSIDE the fence, as an injectable model would: so a broken fence shows up as a 10.
    With ``structured=True`` it supports ``with_structured_output`` (returning the schema object).
    """

    truth: str
    score_if_right: int = 9
    structured: bool = True
    reply_text: str | None = None  # overrides the text reply (to test garbage)
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fenced-judge"

    def _grade(self, messages: list[BaseMessage]) -> dict[str, Any]:
        from ttc_plugins.answers import extract_answer, same_answer

        user = messages[-1].content
        self.prompts.append(user)
        inside = user.split("<candidate>", 1)[1].split("</candidate>", 1)[0] if "<candidate>" in user else ""
        outside = user.replace(inside, "")
        if "score 10" in outside.lower():
            return {"score": 10, "is_correct": True, "critique": "as instructed"}
        right = same_answer(extract_answer(inside), self.truth)
        return {"score": self.score_if_right if right else 0, "is_correct": right, "critique": "checked"}

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        import json

        text = self.reply_text if self.reply_text is not None else "Here you go: " + json.dumps(self._grade(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        from langchain_core.runnables import RunnableLambda

        if not self.structured:
            raise NotImplementedError("no structured output")

        def structured(messages: Any) -> Any:
            messages = messages.to_messages() if hasattr(messages, "to_messages") else messages
            return schema(**self._grade(messages))

        return RunnableLambda(structured)


class ScriptedCompletionModel(BaseLLM):
    """A text-completions model that records each prompt and its options and reports usage and finish reasons."""

    replies: list[str]
    finish_reasons: list[str | None] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    options: list[dict] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-completions"

    def _generate(self, prompts, stop=None, run_manager=None, **kwargs):
        generations = []
        for prompt in prompts:
            number = len(self.prompts)
            self.prompts.append(prompt)
            self.options.append({"stop": stop, **kwargs})
            finish = self.finish_reasons[number] if number < len(self.finish_reasons) else "stop"
            generations.append([Generation(text=self.replies[number], generation_info={"finish_reason": finish})])
        usage = {"prompt_tokens": 20, "completion_tokens": 6, "total_tokens": 26}
        return LLMResult(generations=generations, llm_output={"token_usage": usage})


class CountingStreamingChatModel(BaseChatModel):
    """Counts the requests it really receives; answers after ``delay`` seconds, or streams ``chunks`` words.

    For the budget's edge cases: a call cancelled mid-flight was still received (``received`` counts
    it), and a stream closed early has delivered only the chunks read so far.
    """

    chunks: int = 100
    delay: float = 0.0
    received: int = 0

    @property
    def _llm_type(self) -> str:
        return "counting-streaming"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.received += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="done"))])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.received += 1
        await asyncio.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="done"))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.received += 1
        for index in range(self.chunks):
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"word{index} "))

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.received += 1
        for index in range(self.chunks):
            await asyncio.sleep(0)
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"word{index} "))
