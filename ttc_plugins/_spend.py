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
