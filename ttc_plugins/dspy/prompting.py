"""Proposal prompting as DSPy modules: chain-of-draft, step-back and analogical.

The DSPy shells of :mod:`ttc_plugins.strategies.draft`, with the same texts and worked examples. Each
strategy's key rule lives in a field description, not only in the instructions: MIPROv2, GEPA and
SIMBA rewrite ``signature.instructions`` and keep field descriptions, so an optimized program still
drafts briefly (chain-of-draft) or recalls a related problem first (analogical). The predictors are
attributes, so optimizers find them; nothing is copied or stored per call.

Example:
    >>> import dspy
    >>> from dspy.utils.dummies import DummyLM
    >>> draft = ChainOfDraft("question -> answer")
    >>> with dspy.context(lm=DummyLM([{"reasoning": "3 + 4 = 7.", "answer": "7"}])):
    ...     draft(question="What is 3 + 4?").answer
    '7'
    >>> DRAFT_RULE
    'Think step by step, but keep only a minimal draft for each thinking step, five words at most.'
"""

from __future__ import annotations

from collections.abc import Sequence
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
    question_of,
    run_in_scope,
)
from ttc_plugins.prompts import ANALOGICAL_USER, STEP_BACK_ANSWER_USER, STEP_BACK_PRINCIPLE_USER
from ttc_plugins.strategies.draft import CHAIN_OF_DRAFT, WorkedExample
from ttc_plugins.strategies.step_back import step_back_loop

__all__ = ["ANALOGICAL_RULE", "DRAFT_RULE", "Analogical", "ChainOfDraft", "StepBack"]

# The prompts are written for chat messages; DSPy's adapter lays out the fields itself, so only the
# sentences that say how to reason are taken, never the "Answer:"/"####" format lines (the answer has
# its own output field here).
DRAFT_RULE = CHAIN_OF_DRAFT.system.partition(". ")[0] + "."
ANALOGICAL_RULE = ANALOGICAL_USER.split("</question>\n\n")[1].splitlines()[0]
_PRINCIPLE_INSTRUCTIONS = STEP_BACK_PRINCIPLE_USER.split("\n\n")[0]
_USE_PRINCIPLE = STEP_BACK_ANSWER_USER.split("</principle>\n\n")[1].split("\n\n")[0]


def _draft_demos(signature: type[Signature], examples: Sequence[WorkedExample]) -> list[dspy.Example]:
    """Worked drafts as demos: the question goes to the first input field, the answer to the last output."""
    question_field, answer_field = next(iter(signature.input_fields)), list(signature.output_fields)[-1]
    demos = []
    for question, solution in examples:
        draft, marker, answer = solution.rpartition(CHAIN_OF_DRAFT.answer_marker)
        if not marker:
            raise ValueError(f"a chain-of-draft example ends with '#### <answer>', got {solution!r}")
        demos.append(dspy.Example({question_field: question, "reasoning": draft.strip(), answer_field: answer.strip()}))
    return demos


class ChainOfDraft(dspy.Module):
    """Chain-of-draft: reason in minimal drafts of five words at most per step, then answer.

    A ``dspy.ChainOfThought`` whose reasoning field's description carries the brevity rule, so it
    reaches the model whatever instructions an optimizer writes. The worked drafts are the
    predictor's demos, so BootstrapFewShot may replace or extend them like any other demos.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.
        few_shot: start with worked drafts as demos; on by default because zero-shot chain-of-draft
            degrades on small models.
        examples: ``(question, draft)`` pairs, each draft ending with ``#### <answer>``, instead of
            the built-in ones. A question goes to the first input field, an answer to the last output.

    Example:
        >>> [demo.answer for demo in ChainOfDraft("question -> answer").predict.predict.demos]
        ['17', '150', '26']
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        few_shot: bool = True,
        examples: Sequence[WorkedExample] | None = None,
    ) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        CHAIN_OF_DRAFT.messages("", few_shot=few_shot, examples=examples)  # bad examples fail here, not per call
        self.predict = dspy.ChainOfThought(signature, rationale_field=dspy.OutputField(desc=DRAFT_RULE))
        if few_shot:
            self.predict.predict.demos = _draft_demos(signature, examples or CHAIN_OF_DRAFT.examples)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return self.predict(**inputs)

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return await self.predict.acall(**inputs)


class Analogical(dspy.Module):
    """Analogical prompting: recall a related problem and how it is solved, then solve this one the same way.

    The rule opens the instructions and is also the reasoning field's description, which optimizers keep.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``.

    Example:
        >>> Analogical("question -> answer").predict.predict.signature.instructions.startswith(ANALOGICAL_RULE)
        True
    """

    def __init__(self, signature: str | type[Signature]) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        signature = signature.with_instructions(f"{ANALOGICAL_RULE}\n\n{signature.instructions}")
        self.predict = dspy.ChainOfThought(signature, rationale_field=dspy.OutputField(desc=ANALOGICAL_RULE))

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return self.predict(**inputs)

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return await self.predict.acall(**inputs)


class StepBack(dspy.Module):
    """Step-back prompting in two calls: the general principle (role "step_back"), then the answer ("generator").

    ``self.principle`` sees the task's inputs and writes ``principle``; ``self.answer`` is a
    ``dspy.ChainOfThought`` over the task's signature with ``principle`` added as an input. Give the
    principle its own model with ``program.principle.lm = ...``.

    Args:
        signature: a DSPy signature, e.g. ``"question -> answer"``; it must not have a ``principle`` field.

    Returns from a call: the answer's prediction (``reasoning`` and the task's outputs) plus ``principle``
    and ``ttc_result`` (the run's spend, by role under ``ttc_result.spend``).

    Example:
        >>> import dspy
        >>> from dspy.utils.dummies import DummyLM
        >>> replies = [{"principle": "Addition combines amounts."}, {"reasoning": "3 + 4", "answer": "7"}]
        >>> with dspy.context(lm=DummyLM(replies)):
        ...     prediction = StepBack("question -> answer")(question="What is 3 + 4?")
        >>> prediction.principle, prediction.answer
        ('Addition combines amounts.', '7')
    """

    def __init__(self, signature: str | type[Signature]) -> None:
        super().__init__()
        signature = ensure_signature(signature)
        if "principle" in signature.fields:
            raise ValueError("StepBack adds a 'principle' field; rename the signature's own 'principle' field")
        principle = dspy.OutputField(desc="the general principle, concept or formula, stated briefly; no solution")
        inputs = {name: (field.annotation, field) for name, field in signature.input_fields.items()}
        # The task's own instructions stay in view: the principle is the one behind this task.
        self.principle = dspy.Predict(
            dspy.Signature(
                {**inputs, "principle": (str, principle)},
                f"{_PRINCIPLE_INSTRUCTIONS}\n\nThe task's own instructions: {signature.instructions}",
            )
        )
        given = dspy.InputField(desc=f"the general principle behind the task. {_USE_PRINCIPLE}")
        self.answer = dspy.ChainOfThought(signature.append("principle", given, type_=str))
        self.answer_field = list(signature.output_fields)[-1]

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(run_in_scope("step_back", self._loop, inputs, temperature=None))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return prediction_of(await arun_in_scope("step_back", self._loop, inputs, temperature=None))

    def _bind(self, run: StepRun, role: str, target: str, payloads: list[dict[str, Any]]) -> Step:
        if target == "principle":
            keep = self.principle.signature.input_fields
            return run.ask(role, self.principle, [{k: v for k, v in run.inputs.items() if k in keep}])
        return run.ask(role, self.answer, [{**run.inputs, "principle": p["principle"]} for p in payloads])

    @staticmethod
    def _read(target: str, call: Call) -> Any:
        if call.failed:
            return call.outcome
        return str(call.outcome.principle) if target == "principle" else call.outcome

    def _loop(self, run: StepRun) -> StepLoop:
        core = step_back_loop(
            run.inputs, question=question_of(run.inputs),
            extract=lambda output: answer_of(output, self.answer_field),
            output_of=lambda answered, principle: dspy.Prediction(**answered, principle=principle),
        )  # fmt: skip
        return (yield from family_steps(core, partial(self._bind, run), self._read))
