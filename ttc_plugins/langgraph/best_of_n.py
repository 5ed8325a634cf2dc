"""Best-of-N as a LangGraph subgraph: one ``Send`` branch per sample, each sample judged, the best kept.

Contract: reads ``state[input_key]``, samples ``generate`` on it up to ``n`` times and has ``verifier``
score each sample, under the caller's budget; writes the best answer to ``state[output_key]``, the
scored ``candidates`` and the ``result``.

Example:
    >>> import itertools
    >>> from ttc_plugins.verifiers import programmatic
    >>> replies = itertools.cycle(["Answer: 8", "Answer: 7"])
    >>> graph = create_best_of_n_graph(lambda q: next(replies), programmatic(lambda q, answer: answer == "7"), n=2)
    >>> out = graph.invoke({"question": "What is 3 + 4?"}, {"max_concurrency": 1})
    >>> out["answer"], [c.score for c in out["candidates"]]
    ('7', [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from ttc_plugins._runnables import Binding, as_verifier_runnable
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langgraph._generator import as_generator
from ttc_plugins.langgraph._step_graph import step_graph
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.sampling import BEST_OF_N_ROLES, best_of_n_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.verifiers import question_text

__all__ = ["create_best_of_n_graph"]


def create_best_of_n_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    verifier: Any,
    *,
    n: int = 8,
    threshold: float | None = None,
    weighted: bool = False,
    wave_size: int | None = None,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "best_of_n",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build best-of-N as a compiled graph: ``start → step ⇄ generator | verifier (Send per call)``.

    ``step`` runs :func:`ttc_plugins.strategies.sampling.best_of_n_loop` over the replies so far: each
    wave fans out one ``generator`` branch per sample, then one ``verifier`` branch per usable sample,
    until all ``n`` are drawn, a candidate scores at least ``threshold``, or the budget refuses a sample
    or a judgement; then it picks the best-scored candidate (the first one at the threshold, when
    set), or with ``weighted`` the answer whose scores sum highest. Each candidate is checkpointed
    before it is judged: a verifier that interrupts for a human, or a crash while judging, resumes the
    judgement without generating the candidate again.

    Every model call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or, without one, of the caller's ``budget_scope``; the
    verifier's calls under the role "verifier". The child's spend is ``result.spend``. Progress goes to
    ``stream_mode="custom"``: ``{"event": "call_done", "role", "target", "step", "call", "error"}`` per
    sample (role ``generator``) and per judgement (role ``verifier``), the result's events, then
    ``{"event": "finish", "chosen", "score", "stop_reason"}``.

    Args:
        generate: a Runnable (model, chain, graph) or a plain function, sync or async, called with
            ``state[input_key]``; it needs some randomness, or all samples agree by construction.
        verifier: ``llm_judge(model)``, ``programmatic(check)``, any ``(question, candidate) -> Verdict
            | float | bool`` function (sync or async), or a Runnable over ``{"question", "candidate"}``;
            the question is ``state[input_key]``'s text (its ``question`` field, or its last message).
            A reply that is no verdict, an exception or a budget refusal fails that candidate only.
        n: the most samples to draw.
        threshold: stop at the first candidate scored at least this (in [0, 1]); samples in waves.
        weighted: select the answer with the highest summed score instead of the single best sample.
        wave_size: samples per wave when ``threshold`` is set (default 2).
        extract: ``output -> answer``; by default the final answer is extracted from the output's text.
        same: answer equivalence for ``weighted``.
        input_key: the state key holding what ``generate`` is called with.
        output_key: the state key the chosen answer is written to (None when the chosen output has no
            extractable answer; ``result.output`` holds the output itself).
        name: the compiled graph's name, also the name of the run's child budget.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` and ``result`` (a
        :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node(name, graph)``.

    Raises:
        ValueError: a bad ``n``, ``wave_size``, ``threshold`` or key name (when the graph is built).
        TypeError: ``generate`` or ``verifier`` is neither a Runnable nor callable (when the graph is built).
        AllCandidatesFailed: no sample could be generated and verified (when the graph runs).
        BudgetExceeded: the budget could not pay for even one sample (when the graph runs).
    """
    SamplingPlan(n, wave_size=wave_size, threshold=threshold, same=same)  # bad options fail here, not at a run
    bindings = {
        "generate": Binding(as_generator(generate), sampled=True),
        "score": Binding(as_verifier_runnable(verifier)),
    }
    options = {"n": n, "threshold": threshold, "weighted": weighted, "wave_size": wave_size, "same": same,
               "extract": extract}  # fmt: skip
    return step_graph(
        lambda user_input: best_of_n_loop(user_input, question=question_text(user_input), **options),
        bindings, roles=BEST_OF_N_ROLES, input_key=input_key, output_key=output_key, name=name,
        checkpointer=checkpointer, title="BestOfN", writes=lambda result: result.answer,
    )  # fmt: skip
