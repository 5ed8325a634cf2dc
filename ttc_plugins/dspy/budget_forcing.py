"""Budget forcing (s1) as a DSPy module: "Wait" to think longer, "Final Answer:" at the cap.

Decisions come from :func:`~ttc_plugins.strategies.forcing.forcing_loop`, as in every shell;
this module binds its calls to two predictors. DSPy's adapters lay out fields rather than continue raw text, so
the reasoning is carried the re-prompting way: ``self.think`` sees the reasoning so far (ending with
"Wait" when the model stopped too early) and writes its continuation; ``self.answer`` sees the finished
reasoning ending with "Final Answer:" and writes the signature's outputs. Thinking calls are charged to
the role "thinking", the answer call to "answer"; each call sets its own output cap, so the budget
reserves a true worst case.

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> replies = [{"thinking": "3 + 4 = 7."}, {"thinking": "Let me check: 4 + 3 = 7."}, {"answer": "7"}]
    >>> solve = BudgetForcing("question -> answer", min_thinking_tokens=8, max_waits=1, count=lambda t: len(t.split()))
    >>> with dspy.context(lm=DummyLM(replies)):
    ...     prediction = solve(question="What is 3 + 4?")
    >>> prediction.thinking, prediction.answer
    ('3 + 4 = 7. Wait Let me check: 4 + 3 = 7.', '7')
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import dspy
from dspy.signatures.signature import Signature, ensure_signature

from ttc_plugins.dspy._stepped import (
    Call,
    Step,
    StepLoop,
    StepRun,
    answer_of,
    arun_in_scope,
    family_steps,
    prediction_of,
    run_in_scope,
)
from ttc_plugins.strategies.forcing import Continuation, ForcingRules, ThinkingController, forcing_loop
from ttc_plugins.tokens import count_tokens

__all__ = ["BudgetForcing"]

_RUN_NAME = "budget_forcing"
# A thinking reply also holds the adapter's field markers ("[[ ## thinking ## ]]", "[[ ## completed ## ]]"):
# its output cap leaves room for them, and the controller still cuts the thinking itself at the cap.
_MARKUP_TOKENS = 16

THINK_INSTRUCTIONS = (
    "Reason step by step about the task; do not give the final answer yet. If there is reasoning so far, "
    "continue it from exactly where it stops, as if it had never been interrupted: do not repeat any of it."
)
ANSWER_INSTRUCTIONS = "The reasoning is over and ends with 'Final Answer:'. Give the final answer in the output fields."


def _with_task(
    task: type[Signature], instructions: str, extra: dict[str, tuple[type, Any]], outputs: dict[str, tuple[type, Any]]
) -> type[Signature]:
    """The task's inputs, then ``extra`` inputs, then ``outputs``, under ``instructions``."""
    fields = {name: (field.annotation, field) for name, field in task.input_fields.items()}
    # The task's own instructions stay in view: they say what a good answer is (format, length, ...).
    return dspy.Signature(
        {**fields, **extra, **outputs}, f"{instructions}\n\nThe task's own instructions: {task.instructions}"
    )


class BudgetForcing(dspy.Module):
    """Think at least ``min_thinking_tokens`` and at most ``max_thinking_tokens``, then answer.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``; it must not have ``reasoning_so_far``,
            ``thinking`` or ``reasoning`` fields.
        min_thinking_tokens: a model that stops thinking earlier gets "Wait" appended and continues.
        max_thinking_tokens: thinking is cut at exactly this many tokens and the answer is forced.
        max_waits: the most times "Wait" is appended.
        max_answer_tokens: the output cap of the answer call (None: the LM's own).
        count: the token counter the limits are measured with.

    A call takes the signature's inputs, plus ``config`` and ``lm`` as ``dspy.Predict`` takes them. It
    returns a ``dspy.Prediction`` with the signature's outputs, ``thinking`` (with its Waits) and
    ``ttc_result`` (events: each continuation, each Wait, why thinking ended; the spend). When the
    budget refuses a later call, the outputs are None and ``ttc_result.stop_reason`` is ``"budget"``.

    Raises from a call:
        BudgetExceeded: the budget could not pay for the first thinking call.
        Exception: a thinking or answer call failed for another reason.
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        min_thinking_tokens: int = 0,
        max_thinking_tokens: int | None = None,
        max_waits: int = 0,
        max_answer_tokens: int | None = None,
        count: Callable[[str], int] = count_tokens,
    ) -> None:
        super().__init__()
        task = ensure_signature(signature)
        clash = sorted({"reasoning_so_far", "thinking", "reasoning"} & set(task.fields))
        if clash:
            raise ValueError(f"the signature's fields {clash} clash with the fields BudgetForcing adds; rename them")
        self.rules = ForcingRules(
            min_thinking_tokens=min_thinking_tokens,
            max_thinking_tokens=max_thinking_tokens,
            max_waits=max_waits,
            max_answer_tokens=max_answer_tokens,
        )
        self.count = count
        so_far = dspy.InputField(desc="the reasoning so far, possibly empty or ending mid-sentence")
        continuation = dspy.OutputField(desc="the next part of the reasoning, without repeating the reasoning so far")
        self.think = dspy.Predict(
            _with_task(task, THINK_INSTRUCTIONS, {"reasoning_so_far": (str, so_far)}, {"thinking": (str, continuation)})
        )
        outputs = {name: (field.annotation, field) for name, field in task.output_fields.items()}
        finished = dspy.InputField(desc="the finished reasoning, ending with 'Final Answer:'")
        self.answer = dspy.Predict(_with_task(task, ANSWER_INSTRUCTIONS, {"reasoning": (str, finished)}, outputs))
        self.answer_field = list(task.output_fields)[-1]

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(run_in_scope(_RUN_NAME, self._loop, inputs, temperature=None))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope(_RUN_NAME, self._loop, inputs, temperature=None))

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[dict[str, Any]]) -> Step:
        (payload,) = payloads
        if target == "think":
            step = run.ask(role, self.think, [{**run.inputs, "reasoning_so_far": payload["thinking"]}])
            cap = None if payload["max_tokens"] is None else payload["max_tokens"] + _MARKUP_TOKENS
        else:
            step = run.ask(role, self.answer, [{**run.inputs, "reasoning": payload["answer_prefix"]}])
            cap = payload["max_tokens"]
        if cap is not None:
            step.calls[0].arguments["config"]["max_tokens"] = cap
        return step

    def _read(self, target: str, call: Call) -> Any:
        if call.failed:
            return call.outcome
        if target == "think":
            return Continuation(str(call.outcome.thinking))
        return Continuation(str(call.outcome.get(self.answer_field, "")), reply=call.outcome)

    def _output(self, controller: ThinkingController, answer: dspy.Prediction | None) -> dspy.Prediction:
        outputs = dict(answer.items()) if answer is not None else dict.fromkeys(self.answer.signature.output_fields)
        return dspy.Prediction(**outputs, thinking=controller.thinking)

    def _loop(self, run: StepRun) -> StepLoop:
        core = forcing_loop(
            run.inputs, rules=self.rules, output_of=self._output, count=self.count, rejoin=True,
            extract=lambda answer: answer_of(answer.reply, self.answer_field),
        )  # fmt: skip
        return (yield from family_steps(core, partial(self._bind, run), self._read))
