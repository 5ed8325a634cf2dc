"""Self-consistency for any LangChain Runnable: sample n answers in parallel, return the majority.

Its waves, stop rules and vote are :func:`ttc_plugins.strategies.sampling.self_consistency_loop`'s;
this binds the core's ``generate`` target to the wrapped chain.

Example:
    >>> import itertools
    >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> replies = itertools.cycle([AIMessage("Answer: 7"), AIMessage("Answer: 8"), AIMessage("so, 7")])
    >>> model = GenericFakeChatModel(messages=replies)
    >>> solver = self_consistency(model, n=3)
    >>> result = solver.with_result().invoke("What is 3 + 4?", {"max_concurrency": 1})
    >>> result.answer, [c.votes for c in result.candidates], result.stop_reason
    ('7', [2, 1, 2], 'done')
    >>> solver.invoke("What is 3 + 4?", {"max_concurrency": 1}).content  # the wrapped model's output type
    'Answer: 7'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import Field

from ttc_plugins._runnables import Binding
from ttc_plugins.answers import AnswerMatcher, same_answer
from ttc_plugins.langchain._stepped import SteppedStrategy, StrategyLoop
from ttc_plugins.strategies.candidates import AnswerExtractor
from ttc_plugins.strategies.sampling import self_consistency_loop
from ttc_plugins.strategies.sampling_plan import SamplingPlan
from ttc_plugins.strategies.select import AdaptiveStop

__all__ = ["SelfConsistency", "self_consistency"]


class SelfConsistency(SteppedStrategy):
    """A Runnable that samples the wrapped one up to ``n`` times and returns the majority answer's output.

    Build it with :func:`self_consistency`. ``invoke``/``ainvoke``/``batch``/``stream`` return what the
    wrapped Runnable returns (the winning sample); ``with_result()`` returns a copy whose output is the
    full :class:`~ttc_plugins.TTCResult` instead.
    """

    runnable: Runnable[Any, Any]
    n: int = 8
    adaptive: AdaptiveStop | None = None
    wave_size: int | None = None
    extract: AnswerExtractor | None = None
    same: AnswerMatcher = same_answer
    name: str | None = Field(default="self_consistency")

    def _bindings(self) -> Mapping[str, Binding]:
        return {"generate": Binding(self.runnable, sampled=True)}

    def _loop(self, input: Any) -> StrategyLoop:
        return (
            yield from self_consistency_loop(
                input, n=self.n, adaptive=self.adaptive, wave_size=self.wave_size, same=self.same, extract=self.extract
            )
        )


def self_consistency(
    runnable: Runnable[Any, Any],
    *,
    n: int = 8,
    extract: AnswerExtractor | None = None,
    same: AnswerMatcher = same_answer,
    adaptive: bool | AdaptiveStop = False,
    wave_size: int | None = None,
    use_provider_n: bool = True,
    return_result: bool = False,
) -> SelfConsistency:
    """Wrap an existing chain or model so it answers by majority vote over ``n`` samples.

    The wrapped Runnable needs some randomness (temperature > 0, no response cache), or all samples
    agree by construction. Samples run in parallel up to the caller's ``max_concurrency``; callbacks,
    tags and metadata reach every sample. Every call is charged to the current budget; when the
    budget refuses a sample, the run stops and votes over what it has (``stop_reason="budget"``).

    Args:
        runnable: any Runnable: a chat model, ``prompt | model | parser``, a whole chain.
        n: the most samples to draw.
        extract: ``output -> answer``; by default the final answer is extracted from the output's
            text ("Answer: ...", ``\\boxed{}``, "####", then the last number).
        same: answer equivalence for counting votes (numbers, fractions, LaTeX by default).
        adaptive: stop once the vote is settled: ``True`` for the rule that never changes the
            outcome, or an :class:`~ttc_plugins.strategies.select.AdaptiveStop` to choose the rule.
        wave_size: samples per round when ``adaptive`` (default 2).
        use_provider_n: ask a chat model that takes ``n=`` for all samples in one request (checked:
            missing choices are sampled one by one).
        return_result: return the full :class:`~ttc_plugins.TTCResult` rather than the winning output.

    Raises:
        ValueError: ``n`` or ``wave_size`` is not a positive integer; when a run starts, an ``n`` above
            the budget's ``max_calls`` for a run that must draw them all.
        AllCandidatesFailed: every sample raised (the message includes the first failure).
        BudgetExceeded: the budget could not pay for even one sample.
    """
    rule = AdaptiveStop() if adaptive is True else (adaptive or None)
    SamplingPlan(n, wave_size=wave_size, adaptive=rule)  # clear errors for bad options, before pydantic's
    return SelfConsistency(
        runnable=runnable, n=n, extract=extract, same=same, adaptive=rule, wave_size=wave_size,
        use_provider_n=use_provider_n, return_result=return_result,
    )  # fmt: skip
