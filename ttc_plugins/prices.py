"""Model prices for a budget's cost limit: USD per million input and output tokens.

A :class:`~ttc_plugins.Budget` with ``max_cost_usd`` needs each model's price; give it as a
``ModelPrice``, an ``(input, output)`` pair or a mapping, and :func:`parse_prices` checks and
normalises them. A call to a model without a price still counts its tokens; the cost of a budget
that has had such a call is reported as unknown rather than guessed.

Example:
    >>> prices = parse_prices({"gpt-4o-mini": (0.15, 0.60)})
    >>> prices["gpt-4o-mini"].cost(input_tokens=1_000_000, output_tokens=500_000)
    0.45
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelPrice", "parse_prices"]


class ModelPrice(BaseModel):
    """USD per million input and output tokens for one model.

    Example:
        >>> ModelPrice(input_per_million=10, output_per_million=30).cost(1_000, 100)
        0.013
    """

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6


def parse_prices(prices: Mapping[str, Any] | None) -> dict[str, ModelPrice]:
    """Accept ``{"model": ModelPrice | (input, output) | {"input_per_million": .., ...}}``.

    Raises:
        ValueError: a price that is not a pair or mapping, not a finite number, or negative; the
            message names the model and the field.
    """
    parsed: dict[str, ModelPrice] = {}
    for model, raw in (prices or {}).items():
        if isinstance(raw, ModelPrice):
            parsed[model] = raw
            continue
        if isinstance(raw, tuple | list) and len(raw) == 2:
            raw = {"input_per_million": raw[0], "output_per_million": raw[1]}
        if not isinstance(raw, Mapping):
            raise ValueError(f"prices[{model!r}] must be (input_usd, output_usd) per million tokens, got {raw!r}")
        for key in ("input_per_million", "output_per_million"):
            value = raw.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"prices[{model!r}].{key} must be a number, got {value!r}")
            if value < 0:
                raise ValueError(f"prices[{model!r}].{key} must not be negative, got {value!r}")
        parsed[model] = ModelPrice(**raw)
    return parsed
