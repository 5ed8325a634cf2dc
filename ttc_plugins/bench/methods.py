"""The methods a benchmark compares: their names, what each does, and how to build them for a model.

A method name is a family and, for the sampling ones, a sample count: ``greedy``, ``sc@8``,
``adaptive-sc@16``, ``bon-judge@4``, ``bon-check@4``, ``dspy-majority@8``, ``dspy-bestofn@4``. Each
becomes a :class:`BenchMethod`, a function from an item to a :class:`MethodOutcome`; the runner calls it
inside that item's budget, so every model call it makes (generator, judge, DSPy) is counted.

Example:
    >>> [spec.name for spec in parse_method_names("greedy, sc@8,adaptive-sc@16")]
    ['greedy', 'sc@8', 'adaptive-sc@16']
    >>> parse_method_names("sc")
    Traceback (most recent call last):
    ...
    ValueError: method 'sc' needs a sample count, e.g. 'sc@8'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ttc_plugins.bench.items import BenchItem

__all__ = [
    "ARITHMETIC_DEFAULT_METHODS",
    "FAMILIES",
    "GENERIC_DEFAULT_METHODS",
    "BenchMethod",
    "BenchModels",
    "MethodFamily",
    "MethodOutcome",
    "MethodSpec",
    "build_methods",
    "parse_method_names",
]


@dataclass(frozen=True)
class MethodFamily:
    """What a family of methods does, for ``--help`` and the report.

    Attributes:
        description: one line, shown in ``ttc bench --help``.
        takes_k: whether the name needs ``@k`` (a sample count).
        expected_calls: a rough number of model calls per item for ``k``, for the run-time estimate
            (a guess from the pilot, not a bound).
        oracle_like: its check knows the right answer (a calculator), so it is not a fair peer of
            methods that do not; the report marks it.
        needs_arithmetic: its check only works on arithmetic questions.
    """

    description: str
    takes_k: bool
    expected_calls: Callable[[int], float]
    oracle_like: bool = False
    needs_arithmetic: bool = False


FAMILIES: dict[str, MethodFamily] = {
    "greedy": MethodFamily("one call at temperature 0 (the plain answer)", False, lambda k: 1),
    "sc": MethodFamily("self-consistency: majority vote over k samples", True, lambda k: k),
    "adaptive-sc": MethodFamily(
        "self-consistency that stops once no remaining sample can change the vote", True, lambda k: 0.9 * k
    ),
    "adaptive-beta-sc": MethodFamily(
        "self-consistency that stops once P(the leading answer leads) >= 0.95 (Beta posterior, min 4 samples)",
        True,
        lambda k: 0.6 * k,
    ),
    "bon-judge": MethodFamily(
        "best-of-k, the same model judging each sample 0-10 (llm_judge; JSON grammar on the embedded model)",
        True,
        lambda k: 2 * k,
    ),
    "bon-check": MethodFamily(
        "best-of-k with a calculator check, stopping at the first sample it verifies",
        True,
        lambda k: 0.75 * k,
        oracle_like=True,
        needs_arithmetic=True,
    ),
    "refine-judge": MethodFamily(
        "guarded self-refine: k rounds of critique and edit by the same model, scored by it as judge",
        True,
        lambda k: 2 + 3 * k,
    ),
    "refine-check": MethodFamily(
        "guarded self-refine: k rounds of critique and edit, an edit kept only if the calculator scores it higher",
        True,
        lambda k: 1 + 2 * k * 0.6,
        oracle_like=True,
        needs_arithmetic=True,
    ),
    "tpo-judge": MethodFamily(
        "test-time preference optimisation: k samples a round, 2 rewrite rounds, the same model as judge",
        True,
        lambda k: 3 * k + 4,
    ),
    "cot-few": MethodFamily("chain-of-thought with worked examples, one call at temperature 0", False, lambda k: 1),
    "cod": MethodFamily(
        "chain-of-draft (few-shot drafts, answer after ####), one call at temperature 0", False, lambda k: 1
    ),
    "cod-zero": MethodFamily("chain-of-draft without examples (degrades on small models)", False, lambda k: 1),
    "sc-cod": MethodFamily("self-consistency over k few-shot chain-of-draft samples", True, lambda k: k),
    "step-back": MethodFamily(
        "step-back prompting: ask for the principle, then answer with it (2 calls)", False, lambda k: 2
    ),
    "forcing": MethodFamily(
        "budget forcing: thinking capped at k tokens, then 'Final Answer:' (s1; continued through "
        "/v1/completions with the chat template when known, else re-prompted)",
        True,
        lambda k: 2,
    ),
    "dspy-majority": MethodFamily(
        "DSPy's own: dspy.majority over k dspy.Predict calls with distinct rollout_id",
        True,
        lambda k: 2 * k,  # DSPy's ChatAdapter retries a reply it cannot parse with its JSONAdapter
    ),
    "dspy-bestofn": MethodFamily(
        "DSPy's own: dspy.BestOfN(Predict, N=k, reward_fn=calculator check, threshold=1.0)",
        True,
        lambda k: 2 * k,  # as above: most attempts take a ChatAdapter call and a JSONAdapter retry
        oracle_like=True,
        needs_arithmetic=True,
    ),
}

ARITHMETIC_DEFAULT_METHODS = (
    "greedy,sc@4,sc@8,sc@16,adaptive-sc@16,bon-judge@4,bon-check@4,dspy-majority@8,dspy-bestofn@4"
)
"""What ``ttc bench`` runs on arithmetic items by default."""

GENERIC_DEFAULT_METHODS = "greedy,sc@4,sc@8,sc@16,adaptive-sc@16,bon-judge@4,dspy-majority@8"
"""The default for the user's own items: no calculator-checked methods, which need arithmetic questions."""

_NAME = re.compile(r"^(?P<family>[a-z-]+?)(?:@(?P<k>\d+))?$")


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name: its family and sample count."""

    family: str
    k: int = 1

    @property
    def name(self) -> str:
        return f"{self.family}@{self.k}" if FAMILIES[self.family].takes_k else self.family

    @property
    def info(self) -> MethodFamily:
        return FAMILIES[self.family]


def parse_method_names(text: str) -> list[MethodSpec]:
    """Parse a comma-separated list of method names (duplicates dropped, order kept).

    Raises:
        ValueError: an unknown family, a missing or zero sample count, or an empty list.
    """
    specs: list[MethodSpec] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        match = _NAME.match(name)
        family = match.group("family") if match else name
        if match is None or family not in FAMILIES:
            raise ValueError(f"unknown method {name!r}; known: {', '.join(_examples())}")
        takes_k, k = FAMILIES[family].takes_k, match.group("k")
        if takes_k and k is None:
            raise ValueError(f"method {name!r} needs a sample count, e.g. '{family}@8'")
        if not takes_k and k is not None:
            raise ValueError(f"method {family!r} takes no sample count, got {name!r}")
        spec = MethodSpec(family, int(k) if k else 1)
        if spec.k < 1:
            raise ValueError(f"method {name!r} needs at least one sample")
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise ValueError("no methods given")
    return specs


def _examples() -> list[str]:
    return [family + ("@k" if info.takes_k else "") for family, info in FAMILIES.items()]


@dataclass(frozen=True)
class MethodOutcome:
    """What a method answered for one item.

    Attributes:
        answer: the extracted final answer, or None when it gave none.
        output: the chosen output's text.
        stop_reason: why a sampling method stopped ("done", "converged", "threshold", "budget").
        samples: samples (or DSPy attempts) drawn.
        failed_samples: those that errored: a provider error, a refused budget, a verification
            that failed, or a DSPy reply its adapter could not parse.
        sample_answers / sample_tokens: each sample's extracted answer (None: failed or none) and
            ``(input, output)`` tokens, in the order they were drawn; recorded by the sampling
            methods so a vote can be replayed on the same samples (``--replay-votes``). The tokens
            are recorded only where each sample was metered on its own (not for ``n=`` choices).
    """

    answer: str | None
    output: str | None = None
    stop_reason: str | None = None
    samples: int = 1
    failed_samples: int = 0
    sample_answers: tuple[str | None, ...] = ()
    sample_tokens: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class BenchModels:
    """The models every method shares: one endpoint, the same prompt and output cap for all.

    Attributes:
        greedy: a LangChain chat model at temperature 0 (``greedy``, and the judge by default).
        sampler: the same model at the sampling temperature.
        judge: the judge for ``bon-judge``; ``greedy`` when None.
        dspy_lm: a ``dspy.BaseLM`` for the same endpoint (needed by the ``dspy-*`` methods).
        completions: a LangChain text-completions model for the same endpoint at temperature 0, and
        chat_template: its chat template; with both, ``forcing`` continues the model's own words
            through ``/v1/completions`` (s1's true continuation) instead of re-prompting the chat model.
        concurrency: the most samples in flight at once (``max_concurrency``).
        temperature: the sampling temperature, also asked of DSPy per call.
    """

    greedy: Any
    sampler: Any
    judge: Any | None = None
    dspy_lm: Any | None = None
    completions: Any | None = None
    chat_template: Any | None = None
    concurrency: int = 2
    temperature: float = 0.7


@dataclass(frozen=True)
class BenchMethod:
    """A named way to answer an item, ready to run.

    Attributes:
        spec: its parsed name.
        solve: ``item -> MethodOutcome``; it may raise (the runner counts that as a failure).
        context: entered around each item's budget scope (DSPy needs its LM configured before the
            scope, so the scope's hook can charge it).
    """

    spec: MethodSpec
    solve: Callable[[BenchItem], MethodOutcome]
    context: Callable[[], contextlib.AbstractContextManager[Any]] = field(default=contextlib.nullcontext)

    @property
    def name(self) -> str:
        return self.spec.name


def build_methods(specs: Sequence[MethodSpec], models: BenchModels) -> list[BenchMethod]:
    """Build the named methods for ``models`` (DSPy is imported only when a ``dspy-*`` method is asked for).

    Raises:
        ValueError: a ``dspy-*`` method without ``models.dspy_lm``.
    """
    methods = []
    for spec in specs:
        if spec.family.startswith("dspy-"):
            if models.dspy_lm is None:
                raise ValueError(f"{spec.name} needs a DSPy LM (BenchModels.dspy_lm)")
            from ttc_plugins.bench import dspy_methods as builders
        else:
            from ttc_plugins.bench import langchain_methods as builders
        methods.append(builders.build(spec, models))
    return methods
