"""Test-time preference optimisation (TPO): improve responses with textual "gradients" between rounds.

Each round samples ``samples`` responses and scores them. Between rounds, the best response so far
is "chosen" and the worst "rejected"; the model explains why chosen beats rejected (a textual loss),
turns that into concrete suggestions (a textual gradient), and writes the next round's responses
from the chosen one and the suggestions. The result is the best-scored response over all rounds;
the per-round best scores (the curve the TPO paper reports) are in the events and in
:func:`round_best_scores`. Calls are charged by role: "generator", "verifier", "critic" (loss and
gradient).

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> from ttc_plugins.verifiers import programmatic
    >>> drafts = iter(["short", "a bit longer", "the longest answer of all"])
    >>> solver = tpo(
    ...     RunnableLambda(lambda q: next(drafts)),
    ...     scorer=programmatic(lambda q, text: min(len(text) / 30, 1.0), on="output"),
    ...     samples=2, rounds=1,
    ...     loss=RunnableLambda(lambda d: "longer is better"),
    ...     gradient=RunnableLambda(lambda d: "write more"),
    ...     update=RunnableLambda(lambda d: next(drafts)),
    ... )
    >>> result = solver.with_result().invoke("Describe the sea.", {"max_concurrency": 1})
    >>> result.output, round_best_scores(result)
    ('the longest answer of all', [0.4, 0.8333333333333334])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import output_parser_of, role_runnable
from ttc_plugins.langchain._stepped import Binding, SteppedStrategy, StrategyLoop, texts_of
from ttc_plugins.langchain.verification import QuestionFormatter, as_verifier_runnable, question_text
from ttc_plugins.prompts import TPO_GRADIENT_USER, TPO_LOSS_USER, TPO_UPDATE_USER
from ttc_plugins.strategies.candidates import AnswerExtractor, output_text
from ttc_plugins.strategies.options import check_count, check_sample_count
from ttc_plugins.strategies.tpo import round_best_scores, tpo_loop

__all__ = ["TPO", "round_best_scores", "tpo"]


class TPO(SteppedStrategy):
    """Samples, scores, and rewrites from textual preference feedback (build with :func:`tpo`).

    Its rounds and decisions are :func:`ttc_plugins.strategies.tpo.tpo_loop`'s; this binds the core's
    call targets to the wrapped chain, the scorer and the three textual steps.
    """

    runnable: Runnable[Any, Any]
    scorer: Runnable[Any, Any]
    loss: Runnable[Any, Any]
    gradient: Runnable[Any, Any]
    update: Runnable[Any, Any]
    samples: int = 4
    rounds: int = 2
    question: QuestionFormatter = question_text
    extract: AnswerExtractor | None = None
    name: str | None = Field(default="tpo")

    def _bindings(self) -> Mapping[str, Binding]:
        return {
            "generate": Binding(self.runnable),
            "score": Binding(self.scorer),
            "loss": Binding(self.loss, render=texts_of("chosen", "rejected"), read=output_text),
            "gradient": Binding(self.gradient, read=output_text),
            "update": Binding(self.update, render=texts_of("chosen")),
        }

    def _loop(self, input: Any) -> StrategyLoop:
        question = self.question(input)
        return (
            yield from tpo_loop(
                input, question=question, samples=self.samples, rounds=self.rounds, extract=self.extract
            )
        )


def tpo(
    runnable: Runnable[Any, Any],
    *,
    scorer: Any,
    samples: int = 4,
    rounds: int = 2,
    loss: Any = None,
    gradient: Any = None,
    update: Any = None,
    question: QuestionFormatter = question_text,
    extract: AnswerExtractor | None = None,
    return_result: bool = False,
) -> TPO:
    """Wrap a chain or model with test-time preference optimisation.

    Args:
        runnable: produces the first round's responses (temperature > 0 so they differ).
        scorer: any verifier (``llm_judge(model)`` as the paper's reward model, ``programmatic``, ...).
        samples: responses per round.
        rounds: rewrite rounds after the first sampling (0 is plain best-of-``samples``).
        loss / gradient / update: the three textual steps; each a chat model (given its prompt), a
            Runnable or a function over its payload dict; by default the runnable's own chat model
            (the update step reuses the runnable's output parser, so responses keep its type).
        question: ``input -> question text`` for the prompts.
        extract: ``output -> answer`` for the result's ``answer``.
        return_result: return the full TTCResult rather than the best response.

    Raises:
        ValueError: ``samples`` below 2 (there would be no preference to learn), negative ``rounds``,
            or no chat model to default a textual step to.
        AllCandidatesFailed: no response could be generated and scored.
    """
    check_sample_count(samples, name="samples", minimum=2)  # a chosen and a rejected response
    check_count(rounds, name="rounds", minimum=0)
    steps = {"strategy": "tpo", "fallback": runnable}
    return TPO(
        runnable=runnable,
        scorer=as_verifier_runnable(scorer),
        loss=role_runnable(loss, role="loss", template=TPO_LOSS_USER, **steps),
        gradient=role_runnable(gradient, role="gradient", template=TPO_GRADIENT_USER, **steps),
        update=role_runnable(
            update, role="update", template=TPO_UPDATE_USER, parser=output_parser_of(runnable), **steps
        ),
        samples=samples,
        rounds=rounds,
        question=question,
        extract=extract,
        return_result=return_result,
    )
