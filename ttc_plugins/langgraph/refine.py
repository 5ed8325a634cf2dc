"""Guarded self-refine as a LangGraph graph, optionally pausing for a human to review each feedback.

Contract: reads ``state[input_key]``, drafts and refines it in guarded rounds under the caller's budget;
writes the best version's output to ``state[output_key]``, every version to ``candidates`` and the ``result``.

Example:
    >>> from ttc_plugins.verifiers import programmatic
    >>> graph = create_refine_graph(
    ...     lambda question: "3 + 4 = 8. Answer: 8",
    ...     critic=lambda d: "NO ISSUES" if "Answer: 7" in d["draft"] else "3 + 4 is 7, not 8.",
    ...     editor=lambda d: "3 + 4 = 7. Answer: 7",
    ...     scorer=programmatic(lambda q, answer: answer == "7"),
    ... )
    >>> out = graph.invoke({"question": "What is 3 + 4?"})
    >>> out["answer"], [c.score for c in out["candidates"]], out["result"].stop_reason
    ('3 + 4 = 7. Answer: 7', [0.0, 1.0], 'converged')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, interrupt

from ttc_plugins._llm_judge import scorer_or_own_judge
from ttc_plugins._runnables import Binding, output_parser_of, role_runnable, texts_of
from ttc_plugins.langgraph._generator import as_generator
from ttc_plugins.langgraph._step_graph import step_graph
from ttc_plugins.prompts import CRITIC_USER, EDITOR_USER, critic_is_satisfied
from ttc_plugins.strategies import refine as core
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.steps import FamilyLoop
from ttc_plugins.verifiers import question_text

__all__ = ["create_refine_graph"]


def _ask_a_human(request: dict[str, Any]) -> Any:
    """Pause with ``request`` until the answer is one the core can read; asks again, saying why, if not."""
    # On resume LangGraph reruns this from the top and replays the answers already given, in order.
    answer = interrupt(request)
    while core.human_decision(answer) is None:
        answer = interrupt({**request, "error": f"expected {core.HUMAN_ANSWERS}, got {answer!r}"})
    return answer


def create_refine_graph(
    generate: Runnable[Any, Any] | Callable[[Any], Any],
    *,
    critic: Any = None,
    editor: Any = None,
    scorer: Any = None,
    max_rounds: int = 3,
    accept: core.AcceptRule = "not_lower",
    patience: int | None = 2,
    threshold: float | None = None,
    human_feedback: bool = False,
    question: Callable[[Any], str] = question_text,
    extract: AnswerExtractor | None = None,
    satisfied: Callable[[str], bool] = critic_is_satisfied,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "refine",
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """Build refine: ``start → step ⇄ generator | verifier | critic | editor [| human]``.

    Rounds, stops and versions are :func:`~ttc_plugins.strategies.refine.refine_loop`'s. Calls are
    charged by role ("generator" for the draft, "verifier", "critic", "editor") to a child of the
    budget in the runtime context (``context=TTCContext(budget=...)``) or of the caller's
    ``budget_scope``; ``result.spend`` is the whole run's, also after a resume in another process.
    Progress goes to ``stream_mode="custom"``: each event as ``{"event": kind, **data}`` when it
    happens, ``call_done`` per call, then ``finish``.

    With ``human_feedback=True`` the ``human`` node pauses after each unsatisfied critique with
    ``interrupt({"question", "draft", "feedback", "round"})``; resume with ``Command(resume=...)``:
    ``True`` or ``None`` approves the feedback, a string replaces it, ``{"stop": True}`` ends the run.
    Any other answer is asked for again with an ``"error"`` added. Pausing needs a checkpointer and a
    ``thread_id``: a run without any is refused before its first call.

    Args:
        generate: drafts from ``state[input_key]``: a chat model, any Runnable, or a function.
        critic / editor: a chat model (given the role's prompt; the editor also ``generate``'s output
            parser), or a Runnable or function over the payload dict; by default ``generate``'s model.
        scorer: any verifier; by default an LLM judge on ``generate``'s own chat model.
        max_rounds / accept / patience / threshold: the rules (:class:`~ttc_plugins.RefineRules`).
        human_feedback: pause for a human to approve, replace or stop each feedback.
        question: ``input -> question text``; extract: ``output -> answer``.
        satisfied: ``feedback -> bool``, whether the critic found nothing to fix.
        input_key / output_key: the state keys read, and written with the best version's output.
        name: the graph's name, also its calls' budgets'; checkpointer: as for ``StateGraph.compile``.

    Raises:
        ValueError: bad rules or keys, no chat model to default a role to, ``human_feedback`` with
            ``checkpointer=False`` (when built); no input or no checkpointer for a review (when run).
        BudgetExceeded: the budget could not pay for the draft (when the graph runs).
    """
    rules = core.RefineRules(max_rounds=max_rounds, accept=accept, patience=patience, threshold=threshold)
    drafter = as_generator(generate)
    steps = {"strategy": "create_refine_graph", "fallback": drafter}
    bindings = {
        "draft": Binding(drafter),
        "score": Binding(scorer_or_own_judge(scorer, drafter, strategy="create_refine_graph")),
        "critique": Binding(
            role_runnable(critic, role="critic", template=CRITIC_USER, **steps),
            render=texts_of("draft"),
            read=output_text,
        ),
        "edit": Binding(
            role_runnable(editor, role="editor", template=EDITOR_USER, parser=output_parser_of(drafter), **steps),
            render=texts_of("draft"),
        ),
        "review": Binding(RunnableLambda(_ask_a_human, name="review")),
    }

    def make_loop(user_input: Any) -> FamilyLoop:
        return core.refine_loop(user_input, question=question(user_input), rules=rules, satisfied=satisfied,
                                extract=extract, human_review=human_feedback)  # fmt: skip

    roles = core.ROLES if human_feedback else tuple(r for r in core.ROLES if r != "human")
    return step_graph(
        make_loop, bindings, roles=roles, input_key=input_key, output_key=output_key, name=name,
        checkpointer=checkpointer, pauses=human_feedback, title="Refine",
    )  # fmt: skip
