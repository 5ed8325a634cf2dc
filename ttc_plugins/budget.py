"""One token budget shared by every model call inside a strategy, however nested.

Every call goes through the same two steps:

1. **Reserve** the worst case before the call: the counted prompt tokens plus the call's maximum
   output tokens (``default_max_output_tokens`` when the call sets none). If that does not fit under
   every limit, :class:`BudgetExceeded` is raised and the call is not made.
2. **Commit** the real usage after the call (the provider's numbers where it reports them) and release
   the rest of the reservation; a call that raises releases its reservation instead.

Because in-flight reservations count as used, any number of concurrent calls (threads or asyncio)
can never push committed + reserved past a hard limit. The one thing a budget cannot prevent is a
provider reporting more tokens than the pre-call estimate; that truth is recorded as it is and the
budget then refuses further calls.

Example:
    >>> from ttc_plugins import Budget
    >>> budget = Budget(max_total_tokens=100)
    >>> call = budget.reserve(input_tokens=40, max_output_tokens=50)
    >>> call.commit(input_tokens=40, output_tokens=12)
    >>> budget.spent.total_tokens, budget.remaining.total_tokens
    (52, 48)
    >>> budget.can_afford(input_tokens=40, max_output_tokens=50)
    False
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ttc_plugins._budget_report import format_number, format_report
from ttc_plugins._scope import (
    DEFAULT_ROLE,
    budget_role,
    budget_scope,
    current_budget,
    current_role,
    strategy_run_scope,
)
from ttc_plugins._spend import Remaining, Spend, SpendLine
from ttc_plugins.prices import ModelPrice, parse_prices

__all__ = [
    "DEFAULT_ROLE",
    "Budget",
    "BudgetExceeded",
    "ModelPrice",
    "Remaining",
    "Reservation",
    "Spend",
    "SpendLine",
    "budget_role",
    "budget_scope",
    "current_budget",
    "current_role",
    "strategy_run_scope",
]

UNKNOWN_MODEL = "unknown"


class BudgetExceeded(RuntimeError):
    """A model call was refused because its worst case does not fit under a limit.

    Subclasses ``RuntimeError`` so LangGraph's default retry policy does not retry it.

    Attributes:
        limit: the name of the limit, e.g. ``"max_total_tokens"``.
        maximum: the limit's value.
        used: what was already committed or reserved under that limit.
        requested: what the refused call asked for (None when it cannot be bounded).
        budget_name: the name of the budget whose limit it is (children can be named).
        budget: the budget whose limit it is (None when raised by hand).
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        maximum: float,
        used: float,
        requested: float | None,
        budget_name: str | None = None,
        budget: Budget | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum
        self.used = used
        self.requested = requested
        self.budget_name = budget_name
        self.budget = budget

    @property
    def shortfall(self) -> float | None:
        """How much more room the refused call needed (None when it cannot be bounded)."""
        if self.requested is None:
            return None
        return self.used + self.requested - self.maximum


@dataclass
class _Tally:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0

    def add(self, input_tokens: int, output_tokens: int, cost: float | None) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.calls += 1
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost += cost

    def line(self, *, priced: bool) -> SpendLine:
        known = priced and self.unpriced_calls == 0
        return SpendLine(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            calls=self.calls,
            cost_usd=self.cost if known else None,
        )


_TOKEN_LIMITS = ("max_total_tokens", "max_input_tokens", "max_output_tokens", "max_calls")
_FLOAT_LIMITS = ("max_cost_usd", "max_seconds")


def _check_positive_int(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{field} must be a positive integer or None, got {value!r}")
    return value


def _check_positive_number(field: str, value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a positive number or None, got {value!r}")
    return float(value)


class Reservation:
    """The worst case held for one model call until it is committed or released.

    Use it as a context manager so an exception always releases it:

    Example:
        >>> from ttc_plugins import Budget
        >>> budget = Budget(max_calls=2)
        >>> with budget.reserve(input_tokens=10, max_output_tokens=20) as call:
        ...     call.commit(input_tokens=10, output_tokens=7)
        >>> budget.spent.calls
        1
    """

    __slots__ = ("_state", "budget", "cost", "input_tokens", "model", "output_tokens", "role")

    def __init__(
        self, budget: Budget, input_tokens: int, output_tokens: int, cost: float, model: str | None, role: str
    ) -> None:
        self.budget = budget
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost = cost
        self.model = model
        self.role = role
        self._state = "open"

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    def commit(self, input_tokens: int | None = None, output_tokens: int = 0, *, model: str | None = None) -> None:
        """Record the call's real usage and free the rest of the reservation.

        Args:
            input_tokens: prompt tokens the provider reported; None keeps the counted estimate.
            output_tokens: completion tokens the provider reported (or counted from the text).
            model: the model that actually answered, if it differs from the one reserved for.
        """
        for field, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        used_input = self.input_tokens if input_tokens is None else input_tokens
        self.budget._settle(self, used_input, output_tokens, model or self.model)

    def release(self, *, failed: bool = True) -> None:
        """Free the whole reservation: the call was not made (``failed=False``) or raised."""
        self.budget._settle(self, None, None, None, failed=failed)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self.is_open:
            self.release(failed=exc_type is not None)

    def __repr__(self) -> str:
        return (
            f"Reservation(input_tokens={self.input_tokens}, output_tokens={self.output_tokens}, "
            f"model={self.model!r}, role={self.role!r}, state={self._state!r})"
        )


class Budget:
    """Limits on tokens, calls, cost and time, shared by every call made under it.

    Args:
        max_total_tokens: input + output tokens over all calls.
        max_input_tokens: prompt tokens over all calls.
        max_output_tokens: completion tokens over all calls.
        max_calls: number of model calls.
        max_cost_usd: dollars, priced with ``prices``; a call to a model without a price is refused
            while this limit is set, because its cost cannot be bounded.
        max_seconds: wall time from the first call; checked before each call.
        prices: ``{"model-name": (usd_per_million_input, usd_per_million_output)}``.
        default_max_output_tokens: the worst case reserved for a call that sets no ``max_tokens``.
        name: shown in reports and error messages (useful for child budgets).

    Example:
        >>> from ttc_plugins import Budget
        >>> budget = Budget(max_total_tokens=10_000, max_calls=20, prices={"gpt-4o-mini": (0.15, 0.6)})
        >>> budget.reserve(input_tokens=1_000, max_output_tokens=200, model="gpt-4o-mini").commit(1_000, 150)
        >>> round(budget.spent.cost_usd, 6)
        0.00024
    """

    def __init__(
        self,
        max_total_tokens: int | None = None,
        max_input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        max_calls: int | None = None,
        max_cost_usd: float | None = None,
        max_seconds: float | None = None,
        prices: Mapping[str, Any] | None = None,
        *,
        default_max_output_tokens: int = 512,
        name: str | None = None,
    ) -> None:
        self.max_total_tokens = _check_positive_int("max_total_tokens", max_total_tokens)
        self.max_input_tokens = _check_positive_int("max_input_tokens", max_input_tokens)
        self.max_output_tokens = _check_positive_int("max_output_tokens", max_output_tokens)
        self.max_calls = _check_positive_int("max_calls", max_calls)
        self.max_cost_usd = _check_positive_number("max_cost_usd", max_cost_usd)
        self.max_seconds = _check_positive_number("max_seconds", max_seconds)
        self.default_max_output_tokens = _check_positive_int("default_max_output_tokens", default_max_output_tokens)
        self.prices = parse_prices(prices)
        self.name = name
        self._parent: Budget | None = None
        # One lock per budget tree, so a reservation is checked and held in a child and all its
        # ancestors atomically. It is never held across an await or a model call.
        self._lock = threading.Lock()
        self._committed = _Tally()
        self._by_role: dict[str, _Tally] = {}
        self._by_model: dict[str, _Tally] = {}
        self._held = _Tally()  # in-flight reservations; .calls counts them
        self._failed_calls = 0
        self._started: float | None = None
        self._last_finished: float | None = None

    # ----------------------------------------------------------------- construction

    def child(
        self,
        max_total_tokens: int | None = None,
        max_input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        max_calls: int | None = None,
        max_cost_usd: float | None = None,
        max_seconds: float | None = None,
        *,
        name: str | None = None,
    ) -> Budget:
        """A budget for a sub-task: its own limits, and all its spend also counts in this budget.

        Example:
            >>> from ttc_plugins import Budget
            >>> parent = Budget(max_total_tokens=1_000)
            >>> verify = parent.child(max_total_tokens=100, name="verify")
            >>> verify.reserve(input_tokens=30, max_output_tokens=10).commit(30, 10)
            >>> parent.spent.total_tokens
            40
        """
        kid = Budget(
            max_total_tokens,
            max_input_tokens,
            max_output_tokens,
            max_calls,
            max_cost_usd,
            max_seconds,
            default_max_output_tokens=self.default_max_output_tokens,
            name=name,
        )
        kid.prices = self.prices
        kid._parent = self
        kid._lock = self._lock
        return kid

    @property
    def parent(self) -> Budget | None:
        return self._parent

    def is_within(self, other: Budget) -> bool:
        """Whether this budget is ``other`` or one of its descendants (so its spend reaches ``other``).

        Example:
            >>> parent = Budget()
            >>> parent.child().is_within(parent), parent.is_within(parent.child())
            (True, False)
        """
        return any(budget is other for budget in self._chain())

    def _chain(self) -> Iterator[Budget]:
        budget: Budget | None = self
        while budget is not None:
            yield budget
            budget = budget._parent

    def price_for(self, model: str | None) -> ModelPrice | None:
        """The price of ``model`` (exact name, then the name after a ``provider/`` prefix), if known."""
        if model is None:
            return None
        return self.prices.get(model) or self.prices.get(model.rsplit("/", 1)[-1])

    # ----------------------------------------------------------------- reserve / settle

    def reserve(
        self,
        input_tokens: int,
        max_output_tokens: int | None = None,
        *,
        model: str | None = None,
        role: str | None = None,
    ) -> Reservation:
        """Hold the worst case of one call, or raise :class:`BudgetExceeded` if it does not fit.

        Args:
            input_tokens: the counted prompt tokens.
            max_output_tokens: the call's output cap; ``default_max_output_tokens`` when None.
            model: the model name, for the by-model breakdown and for pricing.
            role: what the call is for; defaults to the current ``budget_role`` ("generator").
        """
        output_tokens = self.default_max_output_tokens if max_output_tokens is None else max_output_tokens
        for field, value in (("input_tokens", input_tokens), ("max_output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        price = self.price_for(model)
        cost = price.cost(input_tokens, output_tokens) if price else 0.0
        with self._lock:
            now = time.monotonic()
            for budget in self._chain():
                budget._check_fits(input_tokens, output_tokens, cost, price is not None, model, now)
            for budget in self._chain():
                if budget._started is None:
                    budget._started = now
                budget._held.add(input_tokens, output_tokens, cost)
        return Reservation(self, input_tokens, output_tokens, cost, model, role or current_role())

    def can_afford(self, input_tokens: int, max_output_tokens: int | None = None, *, model: str | None = None) -> bool:
        """Whether a call with this worst case would be allowed now (nothing is reserved)."""
        output_tokens = self.default_max_output_tokens if max_output_tokens is None else max_output_tokens
        price = self.price_for(model)
        cost = price.cost(input_tokens, output_tokens) if price else 0.0
        with self._lock:
            now = time.monotonic()
            try:
                for budget in self._chain():
                    budget._check_fits(input_tokens, output_tokens, cost, price is not None, model, now)
            except BudgetExceeded:
                return False
        return True

    def _check_fits(
        self, input_tokens: int, output_tokens: int, cost: float, priced: bool, model: str | None, now: float
    ) -> None:
        used_in = self._committed.input_tokens + self._held.input_tokens
        used_out = self._committed.output_tokens + self._held.output_tokens
        checks = (
            ("max_total_tokens", self.max_total_tokens, used_in + used_out, input_tokens + output_tokens),
            ("max_input_tokens", self.max_input_tokens, used_in, input_tokens),
            ("max_output_tokens", self.max_output_tokens, used_out, output_tokens),
            ("max_calls", self.max_calls, self._committed.calls + self._held.calls, 1),
        )
        detail = f"{format_number(input_tokens)} prompt + {format_number(output_tokens)} max output tokens"
        for limit, maximum, used, requested in checks:
            if maximum is not None and used + requested > maximum:
                what = "1 call" if limit == "max_calls" else f"{format_number(requested)} tokens ({detail})"
                self._refuse(limit, maximum, used, requested, f"this call needs up to {what}")
        if self.max_cost_usd is not None:
            used_cost = self._committed.cost + self._held.cost
            if not priced:
                self._refuse(
                    "max_cost_usd",
                    self.max_cost_usd,
                    used_cost,
                    None,
                    f"no price is known for model {model!r}, so the call's cost cannot be bounded; "
                    "add it to Budget(prices={...})",
                )
            if used_cost + cost > self.max_cost_usd:
                self._refuse("max_cost_usd", self.max_cost_usd, used_cost, cost, f"this call may cost ${cost:.6f}")
        if self.max_seconds is not None and self._started is not None:
            elapsed = now - self._started
            if elapsed >= self.max_seconds:
                self._refuse("max_seconds", self.max_seconds, elapsed, None, "the time limit has passed")

    def _refuse(self, limit: str, maximum: float, used: float, requested: float | None, reason: str) -> None:
        owner = f" of budget {self.name!r}" if self.name else ""
        message = (
            f"{limit}={format_number(maximum)}{owner} would be exceeded: "
            f"{format_number(used)} already used or reserved, {reason}"
        )
        if requested is not None:
            message += f"; short by {format_number(used + requested - maximum)}"
        raise BudgetExceeded(
            message + ".",
            limit=limit,
            maximum=maximum,
            used=used,
            requested=requested,
            budget_name=self.name,
            budget=self,
        )

    def _settle(
        self,
        reservation: Reservation,
        input_tokens: int | None,
        output_tokens: int | None,
        model: str | None,
        *,
        failed: bool = False,
    ) -> None:
        with self._lock:
            if reservation._state != "open":
                raise RuntimeError(f"this reservation was already {reservation._state}")
            reservation._state = "released" if input_tokens is None else "committed"
            now = time.monotonic()
            for budget in self._chain():
                held = budget._held
                held.input_tokens -= reservation.input_tokens
                held.output_tokens -= reservation.output_tokens
                held.cost -= reservation.cost
                held.calls -= 1
                budget._last_finished = now
                if input_tokens is None or output_tokens is None:
                    budget._failed_calls += int(failed)
                    continue
                price = budget.price_for(model)
                cost = price.cost(input_tokens, output_tokens) if price else None
                budget._committed.add(input_tokens, output_tokens, cost)
                budget._by_role.setdefault(reservation.role, _Tally()).add(input_tokens, output_tokens, cost)
                budget._by_model.setdefault(model or UNKNOWN_MODEL, _Tally()).add(input_tokens, output_tokens, cost)

    # ----------------------------------------------------------------- views

    @property
    def limits(self) -> dict[str, float]:
        """The limits that are set, by name."""
        names = (*_TOKEN_LIMITS, *_FLOAT_LIMITS)
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def spent(self) -> Spend:
        """A snapshot of everything committed so far."""
        with self._lock:
            priced = bool(self.prices)
            if self._started is None:
                seconds = 0.0
            else:
                end = time.monotonic() if self._held.calls or self._last_finished is None else self._last_finished
                seconds = end - self._started
            total = self._committed.line(priced=priced)
            return Spend(
                **total.model_dump(),
                failed_calls=self._failed_calls,
                seconds=seconds,
                by_role={role: tally.line(priced=priced) for role, tally in self._by_role.items()},
                by_model={model: tally.line(priced=priced) for model, tally in self._by_model.items()},
            )

    @property
    def reserved(self) -> SpendLine:
        """What calls in flight hold right now: their number, worst-case tokens and cost.

        Every reservation is settled when its call ends, however it ends, so outside of running calls
        this is all zeros; anything else is a leak.

        Example:
            >>> budget = Budget()
            >>> call = budget.reserve(input_tokens=30, max_output_tokens=100)
            >>> budget.reserved.calls, budget.reserved.total_tokens
            (1, 130)
            >>> call.commit(30, 12)
            >>> budget.reserved.calls
            0
        """
        with self._lock:
            held = self._held
            cost = held.cost if self.prices else None
            return SpendLine(
                input_tokens=held.input_tokens, output_tokens=held.output_tokens, calls=held.calls, cost_usd=cost
            )

    @property
    def remaining(self) -> Remaining:
        """What is left under each limit that is set; in-flight reservations count as used."""
        with self._lock:
            used_in = self._committed.input_tokens + self._held.input_tokens
            used_out = self._committed.output_tokens + self._held.output_tokens

            def left(maximum: float | None, used: float) -> Any:
                return None if maximum is None else max(maximum - used, 0)

            elapsed = 0.0 if self._started is None else time.monotonic() - self._started
            return Remaining(
                total_tokens=left(self.max_total_tokens, used_in + used_out),
                input_tokens=left(self.max_input_tokens, used_in),
                output_tokens=left(self.max_output_tokens, used_out),
                calls=left(self.max_calls, self._committed.calls + self._held.calls),
                cost_usd=left(self.max_cost_usd, self._committed.cost + self._held.cost),
                seconds=left(self.max_seconds, elapsed),
            )

    @property
    def exhausted(self) -> bool:
        """True when some limit (of this budget or an ancestor) has no room left at all."""
        for budget in self._chain():
            if any(value in (0, 0.0) for value in budget.remaining.model_dump().values()):
                return True
        return False

    def report(self) -> str:
        """A small table of tokens, calls and cost by role, then the limits and what is left.

        Example:
            >>> from ttc_plugins import Budget, budget_role
            >>> budget = Budget(max_total_tokens=500)
            >>> budget.reserve(input_tokens=100, max_output_tokens=50).commit(100, 40)
            >>> print(budget.report())  # doctest: +NORMALIZE_WHITESPACE
            role      calls  input  output  total  cost
            generator     1    100      40    140     -
            total         1    100      40    140     -
            limits: max_total_tokens 500 (360 left)
        """
        return format_report(self.name, self.spent, self.limits, self.remaining)

    def __repr__(self) -> str:
        limits = ", ".join(f"{k}={format_number(v)}" for k, v in self.limits.items())
        name = f"name={self.name!r}, " if self.name else ""
        return f"Budget({name}{limits})"
