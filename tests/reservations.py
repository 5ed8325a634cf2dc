"""Watch the reservations a budget makes, to compare each call's worst case with what it committed."""

from __future__ import annotations

from ttc_plugins import Budget, Reservation


def record_reservations(budget: Budget) -> list[Reservation]:
    """Make ``budget`` append every reservation it grants to the returned list."""
    granted: list[Reservation] = []
    reserve = budget.reserve

    def recording_reserve(input_tokens, max_output_tokens=None, **kwargs):
        reservation = reserve(input_tokens, max_output_tokens, **kwargs)
        granted.append(reservation)
        return reservation

    budget.reserve = recording_reserve
    return granted
