"""Test-time preference optimisation (TPO) as a LangGraph graph: scored rounds linked by textual gradients.

Contract: reads ``state[input_key]``; samples ``samples`` responses and scores them, then for up to
``rounds`` rounds turns the best (chosen) and worst (rejected) response so far into a textual loss and
gradient and rewrites ``samples`` new responses from the chosen one, under the caller's budget; writes
the best-scored response's output to ``state[output_key]``, every response to ``candidates`` and the
``result`` (whose ``round_best`` events are the per-round best scores).

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> drafts = iter(["short", "a bit longer", "the longest answer of all", "the longest answer of all"])
    >>> graph = create_tpo_graph(
    ...     lambda question: next(drafts),
    ...     scorer=programmatic(lambda q, text: min(len(text) / 30, 1.0), on="output"),
    ...     samples=2, rounds=1,
    ...     loss=lambda d: "longer is better", gradient=lambda d: "write more", update=lambda d: next(drafts),
    ... )
    >>> out = graph.invoke({"question": "Describe the sea."}, {"max_concurrency": 1})
    >>> out["answer"], [e.data["best_score"] for e in out["result"].events if e.kind == "round_best"]
    ('the longest answer of all', [0.4, 0.8333333333333334])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from ttc_plugins._runnables import Binding, as_verifier_runnable, output_parser_of, role_runnable, texts_of
from ttc_plugins.langgraph._generator import as_generator
from ttc_plugins.langgraph._step_graph import step_graph
from ttc_plugins.prompts import TPO_GRADIENT_USER, TPO_LOSS_USER, TPO_UPDATE_USER
from ttc_plugins.strategies import tpo as core
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.options import check_count, check_sample_count
from ttc_plugins.strategies.steps import FamilyLoop
from ttc_plugins.verifiers import question_text

__all__ = ["create_tpo_graph"]


def create_tpo_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    scorer: Any,
    samples: int = 4,
    rounds: int = 2,
    loss: Any = None,
    gradient: Any = None,
    update: Any = None,
    question: Callable[[Any], str] = question_text,
    extract: AnswerExtractor | None = None,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "tpo",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build TPO: ``start → step ⇄ generator | verifier | critic`` (one ``Send`` branch per call).

    Each round's samples (the first from ``generate``, later ones rewritten by ``update``) and their
    scorings fan out in parallel; stops and the result are the core's (``"done"``, ``"converged"``,
    ``"budget"``, ``"error"``). Every call is charged, by role, to a child of the budget in the runtime
    context (``context=TTCContext(budget=...)``) or of the caller's ``budget_scope``; ``result.spend``
    is the whole run's, also after a resume in another process. Progress goes to
    ``stream_mode="custom"``: each of the result's events as ``{"event": kind, **data}`` when it
    happens (``round_best`` once per round), ``call_done`` per call, then ``finish``.

    Args:
        generate: produces the first round's responses from ``state[input_key]``: a chat model, any
            Runnable or a function (temperature > 0 so they differ).
        scorer: any verifier (``llm_judge(model)`` as the paper's reward model, ``programmatic``, ...).
        samples: responses per round.
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        loss / gradient / update: the three textual steps; each a chat model (given its prompt), a
            Runnable or a function over its payload dict; by default ``generate``'s own chat model
            (the update step reuses ``generate``'s output parser, so responses keep its type).
        question: ``input -> question text`` for the prompts.
        extract: ``output -> answer`` for each response's ``answer``.
        input_key / output_key: the state keys read, and written with the best response's output.
        name: the compiled graph's name, also the name of its calls' budgets.
        checkpointer: as for ``StateGraph.compile``; leave None inside a parent graph to inherit its own.

    Returns:
        A compiled graph whose output keys are ``output_key``, ``candidates`` (every response) and
        ``result`` (a :class:`~ttc_plugins.TTCResult`); add it to a parent with ``parent.add_node``.

    Raises:
        ValueError: ``samples`` below 2, negative ``rounds``, a bad key name, or no chat model to
            default a textual step to (when the graph is built); no input, or more ``samples`` than the
            budget's ``max_calls`` (when it runs, before any call).
        AllCandidatesFailed: no response could be generated and scored (when the graph runs).
    """
    check_sample_count(samples, name="samples", minimum=2)  # a chosen and a rejected response
    check_count(rounds, name="rounds", minimum=0)
    generator = as_generator(generate)
    steps = {"strategy": "create_tpo_graph", "fallback": generator}
    bindings = {
        "generate": Binding(generator),
        "score": Binding(as_verifier_runnable(scorer)),
        "loss": Binding(
            role_runnable(loss, role="loss", template=TPO_LOSS_USER, **steps),
            render=texts_of("chosen", "rejected"),
            read=output_text,
        ),
        "gradient": Binding(
            role_runnable(gradient, role="gradient", template=TPO_GRADIENT_USER, **steps), read=output_text
        ),
        "update": Binding(
            role_runnable(update, role="update", template=TPO_UPDATE_USER, parser=output_parser_of(generator), **steps),
            render=texts_of("chosen"),
        ),
    }

    def make_loop(user_input: Any) -> FamilyLoop:
        return core.tpo_loop(user_input, question=question(user_input), samples=samples, rounds=rounds, extract=extract)

    return step_graph(
        make_loop, bindings, roles=core.ROLES, input_key=input_key, output_key=output_key, name=name,
        checkpointer=checkpointer, title="TPO",
    )  # fmt: skip
