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

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Command, Overwrite, Send

from ttc_plugins._runnables import as_verifier_runnable
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.budget import budget_scope
from ttc_plugins.langgraph._sampling_graph import STOP_REASON, SamplingLoop, check_keys, sampling_schemas
from ttc_plugins.langgraph._verification import averify_candidate, verify_candidate
from ttc_plugins.langgraph.context import TTCContext
from ttc_plugins.langgraph.state_fields import candidate_data, candidate_from_data, result_data
from ttc_plugins.results import Candidate, TTCResult
from ttc_plugins.strategies.candidates import AnswerExtractor, scored_result, voted_result
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
    """Build best-of-N as a compiled graph: ``reset → plan ⇄ sample (Send × wave) → verify → select``.

    Each wave fans out one ``sample`` branch per sample; each branch hands its candidate on to its
    own ``verify`` branch (``Command(goto=Send(...))``), so a wave is generated, then judged, and
    ``plan`` runs once the wave's judgements are in. It loops until all ``n`` are drawn, a candidate
    scores at least ``threshold``, or the budget refuses a sample or a judgement; ``select`` then picks
    the best-scored candidate (the first one at the threshold, when set), or with ``weighted`` the
    answer whose scores sum highest. Candidates, scores and stop reasons are those of
    :func:`ttc_plugins.langchain.best_of_n` under the same budget.

    Judging in a node of its own, rather than at the end of the sample branch, costs a wave the time
    of its slowest sample plus its slowest judgement; in exchange each candidate is checkpointed
    before it is judged (a verifier that interrupts for a human, or a crash while judging, resumes
    the judgement without generating the candidate again), judgements never compete with the wave's
    samples for the budget, and ``verify`` shows as a step of its own in traces and streams.

    Every model call is charged to a child of the budget in the runtime context
    (``context=TTCContext(budget=...)``) or, without one, of the caller's ``budget_scope``; the
    verifier's calls under the role "verifier". The child's spend is ``result.spend``. Progress goes to
    ``stream_mode="custom"`` as ``{"event": "sample_done", "index", "answer", "error"}`` per sample,
    ``{"event": "verified", "index", "score", "error"}`` per judged sample, and
    ``{"event": "select", "index", "answer", "score"}`` at the end.

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
    check_keys(input_key, output_key)
    judge = as_verifier_runnable(verifier)
    loop = SamplingLoop(
        generate,
        make_plan=lambda: SamplingPlan(n, wave_size=wave_size, threshold=threshold, same=same),
        input_key=input_key,
        output_key=output_key,
        name=name,
        extract=extract,
    )

    def to_verify(task: dict[str, Any], candidate: Candidate) -> Command:
        # Failed samples go through verify too (which passes them on): every branch then reaches
        # plan the same way, so plan runs once per wave even when a whole wave failed.
        judging = {"run_id": task["run_id"], "question": question_text(task["input"])}
        return Command(goto=Send("verify", {**judging, "candidate": candidate_data(candidate)}))

    def sample(task: dict[str, Any], config: RunnableConfig) -> Command:
        return to_verify(task, loop.sample(task, config))

    async def asample(task: dict[str, Any], config: RunnableConfig) -> Command:
        return to_verify(task, await loop.asample(task, config))

    def verified(candidate: Candidate) -> dict[str, Any]:
        get_stream_writer()(
            {"event": "verified", "index": candidate.index, "score": candidate.score, "error": candidate.error}
        )
        return {"candidates": [candidate_data(candidate)]}

    def verify(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        candidate = candidate_from_data(task["candidate"])
        if not candidate.ok:
            return {"candidates": [task["candidate"]]}
        with budget_scope(loop.run_budget(task["run_id"])):
            return verified(verify_candidate(judge, task["question"], candidate, config))

    async def averify(task: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        candidate = candidate_from_data(task["candidate"])
        if not candidate.ok:
            return {"candidates": [task["candidate"]]}
        with budget_scope(loop.run_budget(task["run_id"])):
            return verified(await averify_candidate(judge, task["question"], candidate, config))

    def best(candidates: list[Candidate], stop_reason: Any) -> TTCResult:
        if weighted:
            return voted_result(candidates, stop_reason=stop_reason, same=same, weighted=True)
        return scored_result(candidates, stop_reason=stop_reason, threshold=threshold)

    def select(state: dict[str, Any]) -> dict[str, Any]:
        spend = loop.close(state)  # closed first: selecting may raise
        result = best(state["candidates"], state[STOP_REASON] or "done")
        result.spend = spend
        chosen = result.chosen_candidate
        score = chosen.score if chosen else None
        get_stream_writer()({"event": "select", "index": result.chosen, "answer": result.answer, "score": score})
        selected = [candidate_data(c) for c in result.candidates]
        return {output_key: result.answer, "candidates": Overwrite(selected), "result": result_data(result)}

    state_schema, input_schema, output_schema = sampling_schemas("BestOfN", input_key, output_key)
    builder = StateGraph(
        state_schema, context_schema=TTCContext, input_schema=input_schema, output_schema=output_schema
    )
    builder.add_node("reset", loop.reset)
    builder.add_node("plan", loop.plan)
    builder.add_node("sample", RunnableLambda(sample, afunc=asample, name="sample"), destinations=("verify",))
    builder.add_node("verify", RunnableLambda(verify, afunc=averify, name="verify"))
    builder.add_node("select", select)
    builder.add_edge(START, "reset")
    builder.add_edge("reset", "plan")
    builder.add_conditional_edges("plan", loop.fan_out, ["sample", "select"])
    builder.add_edge("verify", "plan")
    builder.add_edge("select", END)
    return builder.compile(checkpointer=checkpointer, name=name)
