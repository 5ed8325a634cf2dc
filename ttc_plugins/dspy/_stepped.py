"""The refine family's stepped run: one decision loop per strategy, driven sync or async.

A strategy's decisions are a generator that yields :class:`Step` objects ("make these calls of this
predictor, or of the scorer, charged to this role") and reads the outcomes back (exceptions as
values). Refine, FeedbackEdit and TPO get theirs from their family's core in ``strategies/`` through
:func:`family_steps`, as the LangChain shells do; budget forcing and step-back still write theirs
here. ``run_steps`` runs a
step's calls in a thread pool that copies the context, ``arun_steps`` with ``asyncio.gather``; so
``forward`` and ``aforward`` share every decision. Each call has its own child budget (its exact
tokens), its own trace (only the steps that made the returned version reach the caller's trace)
and, when several samples of one predictor are drawn, its own ``rollout_id``. Nothing is deep-copied
and nothing is stored on the module during a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.signatures.signature import Signature

from ttc_plugins.answers import extract_answer
from ttc_plugins.budget import Budget, budget_role, strategy_run_scope
from ttc_plugins.dspy._sampling import base_rollout_id, pass_on, signature_inputs
from ttc_plugins.dspy.budgeted_lm import BudgetedLM
from ttc_plugins.dspy.judge import FirstVerdictJudge, JudgeAnswer, check_judge_signature, judge_inputs, verdict_of
from ttc_plugins.prompts import JUDGE_DEFAULT_RUBRIC
from ttc_plugins.results import InvalidVerdict, TTCResult
from ttc_plugins.strategies.candidates import MeteredOutput
from ttc_plugins.strategies.steps import FamilyLoop

__all__ = [
    "Call",
    "FunctionScorer",
    "Step",
    "StepLoop",
    "StepRun",
    "answer_of",
    "arun_in_scope",
    "arun_steps",
    "draw_samples",
    "family_steps",
    "generated_reply",
    "prediction_of",
    "question_of",
    "read_sample",
    "reading",
    "run_in_scope",
    "run_steps",
    "scorer_parts",
    "scoring_reply",
]


def question_of(inputs: dict[str, Any]) -> str:
    """A module call's inputs as the question text a scorer or critic is shown.

    Example:
        >>> question_of({"question": "What is 3 + 4?", "context": "arithmetic"})
        'question: What is 3 + 4?; context: arithmetic'
    """
    return "; ".join(f"{name}: {value}" for name, value in inputs.items())


def answer_of(prediction: dspy.Prediction, answer_field: str) -> str | None:
    """The final answer in a version's answer field ("Answer: ...", a last number), else its stripped text."""
    value = prediction.get(answer_field)
    text = "" if value is None else str(value)
    return extract_answer(text) or text.strip() or None


@dataclass
class Call:
    """One call of a step: its arguments, its budget, its outcome (the reply or the exception raised
    instead) and its own trace."""

    arguments: dict[str, Any]
    budget: Budget | None = None
    outcome: Any = None
    trace: list[Any] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return isinstance(self.outcome, BaseException)


@dataclass
class Step:
    """Make ``calls`` of ``target`` (a predictor, or the scorer), charged to ``role``."""

    role: str
    target: Any
    calls: list[Call]


StepLoop = Generator[Step, list[Call], tuple[TTCResult, list[list[Any]]]]
"""A strategy's decisions: yields steps, receives their calls back with outcomes, and returns the result
and the traces of the calls that made the returned version."""


class FunctionScorer:
    """Calls ``scorer(inputs, prediction)``, sync or async, from either driver.

    A plain object, not a ``dspy.Module``: optimizers never see (or tune) a judge module inside it, as
    ``dspy.Refine`` hides its ``reward_fn``.
    """

    def __init__(self, scorer: Callable[..., Any]) -> None:
        self.scorer = scorer

    def __call__(self, *, inputs: dict[str, Any], prediction: dspy.Prediction) -> Any:
        reply = self.scorer(inputs, prediction)
        return _wait_for(reply) if inspect.isawaitable(reply) else reply

    async def acall(self, *, inputs: dict[str, Any], prediction: dspy.Prediction) -> Any:
        if inspect.iscoroutinefunction(self.scorer):
            return await self.scorer(inputs, prediction)
        # A plain function may block (run tests, call a service, call an LM): keep it off the event loop.
        reply = await asyncio.to_thread(self.scorer, inputs, prediction)
        return await reply if inspect.isawaitable(reply) else reply


def _wait_for(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread (a worker, or a plain script): run one
        return asyncio.run(wait())
    # Called from a thread that runs a loop (a notebook): wait on a loop of its own in another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, wait()).result()


def scorer_parts(scorer: Any, rubric: str | None) -> tuple[dspy.Module | None, FunctionScorer | None, str]:
    """Split what a user passed as a scorer into an optimizable judge predictor or a hidden function.

    Returns ``(judge, function, rubric)``: ``judge`` for ``"llm"``, a judge signature, or a
    ``dspy.Predict``/``ChainOfThought`` over one (the module stores it as an attribute so optimizers tune
    it); ``function`` for anything else callable as ``scorer(inputs, prediction)``.
    """
    if isinstance(scorer, str) and scorer != "llm":
        raise ValueError(f"the only scorer given by name is 'llm', got {scorer!r}")
    judge: dspy.Module | None = None
    if scorer == "llm" or (isinstance(scorer, type) and issubclass(scorer, Signature)):
        judge = dspy.Predict(JudgeAnswer if scorer == "llm" else scorer)
    elif isinstance(scorer, dspy.Module) and isinstance(getattr(scorer, "predict", scorer), dspy.Predict):
        judge = scorer
    if judge is not None:
        check_judge_signature(getattr(judge, "predict", judge).signature)
        return judge, None, rubric or JUDGE_DEFAULT_RUBRIC
    if not callable(scorer):
        raise TypeError(
            "a scorer is a function (inputs, prediction) -> Verdict | float | bool, 'llm', a judge signature, "
            f"or a dspy.Predict over one; got {scorer!r}"
        )
    if rubric is not None:
        raise ValueError("rubric is for an LLM judge; a function scorer has its own checks")
    return None, FunctionScorer(scorer), JUDGE_DEFAULT_RUBRIC


class StepRun:
    """One call of a refine-family module: its budget, the caller's ``config`` and ``lm``, and the
    rollout count of each sampled predictor. Created per call, never stored on the module.

    Args:
        budget: the run's budget (from ``strategy_run_scope``); each call gets a child of it.
        inputs: the module call's keyword arguments: the signature's inputs, plus ``config`` and ``lm``
            as ``dspy.Predict`` takes them.
        temperature: the temperature of sampled calls; None keeps the LM's (or the caller's) own.
    """

    def __init__(self, budget: Budget, inputs: dict[str, Any], *, temperature: float | None) -> None:
        self.budget = budget
        self.inputs = signature_inputs(inputs)
        self._lm = inputs.get("lm")
        self._config = dict(inputs.get("config") or {})
        self._temperature = temperature
        self._rollouts: dict[int, int] = {}

    def ask(self, role: str, module: dspy.Module, payloads: list[dict[str, Any]], *, sampled: bool = False) -> Step:
        """Calls of a predictor (or a module around one), one per payload.

        ``sampled`` calls may repeat a request (several drafts of one question, a second critique of an
        unchanged draft): each gets the next ``rollout_id`` of its predictor, in the block of the caller's
        (else the LM's) rollout_id, so DSPy's cache does not hand back one answer again.
        """
        predictor = getattr(module, "predict", module)
        # A predictor's own LM (a dedicated critic or judge model) wins; then the call's; then the configured one.
        lm = getattr(predictor, "lm", None) or self._lm or dspy.settings.lm
        base = base_rollout_id(self._config, lm)
        calls = []
        for payload in payloads:
            config = dict(self._config)
            if sampled:
                count = self._rollouts.get(id(predictor), 0)
                self._rollouts[id(predictor)] = count + 1
                config["rollout_id"] = base + count
                if self._temperature is not None:
                    config.setdefault("temperature", self._temperature)
            budget = self.budget.child()
            arguments = {**payload, "config": config}
            if isinstance(lm, dspy.BaseLM):
                # Charged to the call's own budget (its exact tokens), which passes it on to the run's.
                arguments["lm"] = BudgetedLM(lm, budget)
            calls.append(Call(arguments, budget))
        return Step(role, module, calls)

    def score(
        self,
        role: str,
        judge: dspy.Module | None,
        function: FunctionScorer | None,
        rubric: str,
        predictions: list[dspy.Prediction],
    ) -> Step:
        """Scoring calls, one per version: of the judge predictor when there is one, else of the function."""
        if judge is not None:
            signature = getattr(judge, "predict", judge).signature
            step = self.ask(role, judge, [judge_inputs(signature, self.inputs, p, rubric) for p in predictions])
            return Step(role, FirstVerdictJudge(judge), step.calls)
        return Step(role, function, [Call({"inputs": dict(self.inputs), "prediction": p}) for p in predictions])


def generated_reply(call: Call) -> Any:
    """A generating call's reply for a core family: the prediction with its own tokens, or its failure."""
    if call.failed or call.budget is None:
        return call.outcome
    spent = call.budget.spent
    return MeteredOutput(call.outcome, spent.input_tokens, spent.output_tokens)


def draw_samples(run: StepRun, generate: dspy.Module, role: str, target: str, payloads: list[Any]) -> Step:
    """The DSPy calls of a sampling step: ``generate`` on each payload (the module's inputs), each its own
    rollout; for a family whose only predictor target is its sampler (self-consistency)."""
    return run.ask(role, generate, payloads, sampled=True)


def reading(texts: Mapping[str, str] | None = None) -> Callable[[str, Call], Any]:
    """The reply reader a family's ``family_steps`` needs: a scoring as its verdict, a text target (``texts``
    maps it to the output field holding the text) as that text, anything else as a generated version
    with its own tokens; a failed call as its failure.

    Example:
        >>> read = reading({"critique": "feedback"})
        >>> read("critique", Call({}, outcome=dspy.Prediction(feedback="3 + 4 is 7.")))
        '3 + 4 is 7.'
    """
    fields = dict(texts or {})

    def read(target: str, call: Call) -> Any:
        if target == "score":
            return scoring_reply(call)
        if call.failed or target not in fields:
            return generated_reply(call)
        return str(getattr(call.outcome, fields[target]))

    return read


read_sample = reading()
"""A sampling family's reply: a sample as its prediction with its own tokens, a scoring as a verdict."""


def scoring_reply(call: Call) -> Any:
    """A scoring call's reply for a core family: a judge's prediction read as its verdict, else as it is."""
    if isinstance(call.outcome, dspy.Prediction):
        try:
            return verdict_of(call.outcome)
        except InvalidVerdict as invalid:
            return invalid
    return call.outcome


def family_steps(
    core: FamilyLoop,
    bind: Callable[[str, str, list[Any]], Step],
    read: Callable[[str, Call], Any],
) -> StepLoop:
    """Run a family's core (a generator of :class:`ttc_plugins.strategies.steps.Step`) as DSPy steps.

    ``bind(role, target, payloads)`` makes the DSPy step for a core step (all its calls share one
    target), ``read(target, call)`` turns each finished call into the reply the core reads. The traces
    passed on are those of the calls in the chosen candidate's lineage.
    """
    made: list[list[Call]] = []
    replies: list[Any] | None = None
    while True:
        try:
            step = core.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            result: TTCResult = done.value
            break
        (target,) = {call.target for call in step.calls}
        calls = yield bind(step.role, target, [call.payload for call in step.calls])
        made.append(calls)
        replies = [read(target, call) for call in calls]
    chosen = result.chosen_candidate
    lineage = chosen.lineage if chosen is not None else []
    return result, [made[step_number][position].trace for step_number, position in lineage]


def _call(target: Any, call: Call) -> None:
    with dspy.context(trace=call.trace):
        try:
            call.outcome = target(**call.arguments)
        except Exception as error:  # one failed call is the strategy's to judge, not a failed run
            call.outcome = error


async def _acall(target: Any, call: Call) -> None:
    with dspy.context(trace=call.trace):
        try:
            call.outcome = await target.acall(**call.arguments)
        except Exception as error:
            call.outcome = error


def run_steps(loop: StepLoop, *, num_threads: int | None = None) -> tuple[TTCResult, list[list[Any]]]:
    """Run a strategy's steps; the calls of a step run in parallel, up to ``num_threads`` (DSPy's setting
    by default), in a pool that copies the context (DSPy's settings, the budget and the role)."""
    threads = num_threads or dspy.settings.num_threads or 1
    with contextlib.ExitStack() as stack:
        pool: ThreadPoolExecutor | None = None
        calls: list[Call] | None = None
        while True:
            try:
                step = loop.send(calls)
            except StopIteration as done:
                return done.value
            with budget_role(step.role):
                if len(step.calls) == 1 or threads == 1:
                    for call in step.calls:
                        _call(step.target, call)
                else:
                    if pool is None:
                        pool = stack.enter_context(ThreadPoolExecutor(threads, thread_name_prefix="ttc-refine"))
                    futures = [
                        pool.submit(contextvars.copy_context().run, _call, step.target, call) for call in step.calls
                    ]
                    for future in futures:
                        future.result()
            calls = step.calls


async def arun_steps(loop: StepLoop) -> tuple[TTCResult, list[list[Any]]]:
    """Run a strategy's steps on the event loop; the calls of a step run concurrently."""
    calls: list[Call] | None = None
    while True:
        try:
            step = loop.send(calls)
        except StopIteration as done:
            return done.value
        with budget_role(step.role):
            await asyncio.gather(*(_acall(step.target, call) for call in step.calls))
        calls = step.calls


def run_in_scope(
    name: str,
    loop_of: Callable[[StepRun], StepLoop],
    inputs: dict[str, Any],
    *,
    temperature: float | None,
    num_threads: int | None = None,
) -> TTCResult:
    """Run a stepped strategy (``forward``) under a child budget of the caller's: the result carries
    that budget's spend, and the steps that made the result are passed on to the caller's trace."""
    with strategy_run_scope(name) as budget:
        result, traces = run_steps(loop_of(StepRun(budget, inputs, temperature=temperature)), num_threads=num_threads)
        result.spend = budget.spent
    pass_on(traces)
    return result


async def arun_in_scope(
    name: str, loop_of: Callable[[StepRun], StepLoop], inputs: dict[str, Any], *, temperature: float | None
) -> TTCResult:
    """The async twin of :func:`run_in_scope` (``aforward``)."""
    with strategy_run_scope(name) as budget:
        result, traces = await arun_steps(loop_of(StepRun(budget, inputs, temperature=temperature)))
        result.spend = budget.spent
    pass_on(traces)
    return result


def prediction_of(result: TTCResult, **extra: Any) -> dspy.Prediction:
    """The returned version's fields, with ``ttc_result`` (and any ``extra`` fields) beside them."""
    return dspy.Prediction(**dict(result.output.items()), ttc_result=result, **extra)
