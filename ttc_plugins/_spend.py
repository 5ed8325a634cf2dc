"""Read-only views of a budget's ledger: what was spent, and what is left."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SpendLine(BaseModel):
    """Tokens, calls and cost for one slice of the spend (a role, a model, or the total).

    ``cost_usd`` is None when any call in the slice used a model without a known price: an unknown
    price is never guessed.
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Spend(SpendLine):
    """Everything a budget has committed so far, with breakdowns by role and by model.

    Example:
        >>> from ttc_plugins import Budget
        >>> budget = Budget()
        >>> budget.reserve(input_tokens=12, max_output_tokens=8, model="m").commit(12, 3)
        >>> spend = budget.spent
        >>> (spend.total_tokens, spend.calls, spend.by_model["m"].output_tokens)
        (15, 1, 3)
    """

    failed_calls: int = Field(0, description="calls that raised; their reservations were released")
    seconds: float = Field(0.0, description="wall time from the first reservation to the last finished call")
    by_role: dict[str, SpendLine] = Field(default_factory=dict)
    by_model: dict[str, SpendLine] = Field(default_factory=dict)


class Remaining(BaseModel):
    """What is left under each limit (committed and in-flight reservations both count as used).

    A field is None when the budget sets no such limit.
    """

    model_config = ConfigDict(frozen=True)

    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    calls: int | None = None
    cost_usd: float | None = None
    seconds: float | None = None


def _add_lines(lines: list[SpendLine]) -> SpendLine:
    costs = [line.cost_usd for line in lines]
    return SpendLine(
        input_tokens=sum(line.input_tokens for line in lines),
        output_tokens=sum(line.output_tokens for line in lines),
        calls=sum(line.calls for line in lines),
        # A slice's cost is known only when every call in it was priced: an unknown price is never guessed.
        cost_usd=None if not costs or None in costs else sum(c for c in costs if c is not None),
    )


def combined_spend(spends: list[Spend], *, seconds: float = 0.0) -> Spend:
    """The spend of several ledgers' calls together (a run whose calls were metered one by one).

    ``seconds`` is the run's wall time, which the parts' own times cannot give when they overlapped.

    Example:
        >>> one = Spend(input_tokens=10, output_tokens=2, calls=1, by_role={"critic": SpendLine(input_tokens=10,
        ...     output_tokens=2, calls=1)})
        >>> two = Spend(input_tokens=5, output_tokens=5, calls=1, failed_calls=1)
        >>> both = combined_spend([one, two], seconds=1.5)
        >>> both.total_tokens, both.calls, both.failed_calls, both.by_role["critic"].calls, both.seconds
        (22, 2, 1, 1, 1.5)
    """
    total = _add_lines(list(spends))
    by_role: dict[str, list[SpendLine]] = {}
    by_model: dict[str, list[SpendLine]] = {}
    for spend in spends:
        for role, line in spend.by_role.items():
            by_role.setdefault(role, []).append(line)
        for model, line in spend.by_model.items():
            by_model.setdefault(model, []).append(line)
    return Spend(
        **total.model_dump(),
        failed_calls=sum(spend.failed_calls for spend in spends),
        seconds=seconds,
        by_role={role: _add_lines(lines) for role, lines in by_role.items()},
        by_model={model: _add_lines(lines) for model, lines in by_model.items()},
    )
