"""Every strategy option is checked here, once, before any model call: one rule and one message per kind.

A bad option is a ``ValueError`` that names the option, the value and what is allowed, raised when
the strategy is built (or, for what depends on the budget, when a run starts), never a ``TypeError``
from deep inside a run nor minutes of refused calls. The bounds:

====================  =====================================================================
option kind           allowed
====================  =====================================================================
a count               an ``int`` (not a bool) from its minimum up to :data:`MAX_COUNT`
                      (samples ``n``, ``samples``, widths, waves, rounds)
samples vs. budget    no more than the smallest ``max_calls`` of the current budget and its
                      parents, unless the strategy can stop early (see
                      :func:`check_samples_fit`)
a threshold           a real number (not a bool, not a string), finite, in [0, 1]
a temperature         a real number, finite, at least 0
====================  =====================================================================

Example:
    >>> check_sample_count(8), check_threshold(0.75), check_temperature(0)
    (8, 0.75, 0.0)
    >>> check_threshold("0.5")
    Traceback (most recent call last):
    ...
    ValueError: threshold must be a score in [0, 1], got '0.5' (a str); pass a number, not text
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from ttc_plugins.budget import Budget, current_budget
from ttc_plugins.results import short_repr

__all__ = [
    "MAX_COUNT",
    "calls_admitted",
    "check_count",
    "check_feedback_edit_widths",
    "check_real",
    "check_sample_count",
    "check_samples_fit",
    "check_temperature",
    "check_threshold",
]

MAX_COUNT = 1000
"""The most samples, widths, waves or rounds a strategy takes. Published test-time-compute gains
flatten long before a thousand samples of one question, and a larger number (a typo, ``10**9``)
would only build that many child budgets, requests and candidates before the budget stops it."""


def _integer_kind(minimum: int) -> str:
    return {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer of at least {minimum}")


def check_count(
    value: Any, *, name: str, minimum: int = 1, maximum: int | None = MAX_COUNT, optional: bool = False
) -> int | None:
    """``value`` if it is an integer (not a bool) from ``minimum`` to ``maximum``, else a ValueError.

    Args:
        value: the option as given.
        name: the option's name, for the message.
        minimum: the smallest allowed value.
        maximum: the largest allowed value (None: no ceiling).
        optional: None is allowed too (and returned).

    Example:
        >>> check_count(0, name="rounds", minimum=0)
        0
        >>> check_count(True, name="n")
        Traceback (most recent call last):
        ...
        ValueError: n must be a positive integer of at most 1000, got True
    """
    if optional and value is None:
        return None
    allowed = _integer_kind(minimum) + ("" if maximum is None else f" of at most {maximum}")
    allowed += " or None" if optional else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be {allowed} (MAX_COUNT), got {short_repr(value)}")
    return value


def check_sample_count(n: Any, *, name: str = "n", minimum: int = 1) -> int:
    """A number of samples (or of parallel calls in one stage): an integer from ``minimum`` to :data:`MAX_COUNT`.

    Example:
        >>> check_sample_count(10**9)
        Traceback (most recent call last):
        ...
        ValueError: n must be a positive integer of at most 1000 (MAX_COUNT), got 1000000000
    """
    return check_count(n, name=name, minimum=minimum, maximum=MAX_COUNT)  # type: ignore[return-value]


def check_real(
    value: Any,
    *,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    noun: str = "a number",
) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not text) within the bounds.

    Args:
        value: the option as given.
        name: the option's name, for the message.
        low / high: the bounds (None: unbounded on that side).
        low_open / high_open: exclude the bound itself.
        noun: what the value is, for the message ("a score", "a probability").

    Example:
        >>> check_real(0.9, name="confidence", low=0.5, high=1.0, low_open=True, high_open=True)
        0.9
        >>> check_real(float("nan"), name="confidence", low=0.5, high=1.0, low_open=True, high_open=True)
        Traceback (most recent call last):
        ...
        ValueError: confidence must be a number in (0.5, 1), got nan
    """
    if low is not None and high is not None:
        allowed = f"{noun} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{noun} {'above' if low_open else 'of at least'} {low:g}"
    elif high is not None:
        allowed = f"{noun} {'below' if high_open else 'of at most'} {high:g}"
    else:
        allowed = f"{noun}, finite"
    if isinstance(value, bool) or not isinstance(value, Real):
        hint = "; pass a number, not text" if isinstance(value, str) else ""
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)} (a {type(value).__name__}){hint}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)}")
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        raise ValueError(f"{name} must be {allowed}, got {short_repr(value)}")
    return number


def check_threshold(value: Any, *, name: str = "threshold") -> float | None:
    """A score threshold: None (no threshold) or a finite real number in [0, 1].

    Example:
        >>> check_threshold(None), check_threshold(1)
        (None, 1.0)
    """
    return None if value is None else check_real(value, name=name, low=0.0, high=1.0, noun="a score")


def check_temperature(value: Any, *, name: str = "temperature") -> float | None:
    """A sampling temperature: None (the model's own) or a finite real number of at least 0.

    Example:
        >>> check_temperature(None), check_temperature(0.7)
        (None, 0.7)
        >>> check_temperature(-1)
        Traceback (most recent call last):
        ...
        ValueError: temperature must be a number of at least 0, got -1
    """
    return None if value is None else check_real(value, name=name, low=0.0)


def calls_admitted(budget: Budget | None) -> int | None:
    """The most calls ``budget`` can ever admit: the smallest ``max_calls`` of it and its parents (None: no limit).

    Example:
        >>> parent = Budget(max_calls=5)
        >>> calls_admitted(parent.child(max_calls=20)), calls_admitted(Budget())
        (5, None)
    """
    limits = []
    while budget is not None:
        if budget.max_calls is not None:
            limits.append(budget.max_calls)
        budget = budget.parent
    return min(limits) if limits else None


def check_samples_fit(n: int, budget: Budget | None = None, *, name: str = "n", stops_early: bool = False) -> None:
    """Refuse, before any call, ``n`` samples that the budget's ``max_calls`` can never admit.

    A run that must draw all ``n`` samples (a plain vote, best-of-N without a threshold, a TPO
    round) and has a ``max_calls`` below ``n`` asks for what it cannot get: the options contradict
    each other, so that is a ValueError naming both numbers, not a run that makes ``max_calls``
    calls and then churns through ``n - max_calls`` refusals. The check is against the limit, not
    what is left of it: a shared budget that is running low still stops a run the usual way, with
    ``stop_reason="budget"`` and the best result so far.

    A run that can stop early (adaptive self-consistency, best-of-N with a threshold) is not
    refused: its ``n`` is a ceiling it hopes not to reach, and the budget's limit is one more reason
    to stop. Its waves are small, so the first refusal ends it at once.

    Args:
        n: the samples the run would draw.
        budget: the budget the run is charged to; None means the current ``budget_scope``'s.
        name: the option's name, for the message.
        stops_early: whether the run may stop before drawing all ``n``.

    Example:
        >>> from ttc_plugins import Budget
        >>> check_samples_fit(20, Budget(max_calls=5), stops_early=True)  # adaptive: a ceiling, fine
        >>> check_samples_fit(20, Budget(max_calls=5))
        Traceback (most recent call last):
        ...
        ValueError: n=20 samples can never fit in the budget's max_calls=5: lower n to at most 5 or raise max_calls
    """
    if stops_early:
        return
    limit = calls_admitted(budget if budget is not None else current_budget())
    if limit is not None and n > limit:
        raise ValueError(
            f"{name}={n} samples can never fit in the budget's max_calls={limit}: "
            f"lower {name} to at most {limit} or raise max_calls"
        )


def check_feedback_edit_widths(drafts: Any, feedbacks: Any, edits: Any) -> tuple[int, int, int]:
    """The three widths of feedback + edit: each a sample count, and the versions they make within :data:`MAX_COUNT`.

    ``drafts * (1 + feedbacks * edits)`` versions are drafted, edited and judged, so three modest widths
    can still multiply into more calls than any budget means to pay for.

    Example:
        >>> check_feedback_edit_widths(2, 2, 2)
        (2, 2, 2)
        >>> check_feedback_edit_widths(100, 100, 100)
        Traceback (most recent call last):
        ...
        ValueError: drafts * (1 + feedbacks * edits) makes 1000100 versions, more than 1000 (MAX_COUNT)
    """
    widths = (
        check_sample_count(drafts, name="drafts"),
        check_sample_count(feedbacks, name="feedbacks"),
        check_sample_count(edits, name="edits"),
    )
    versions = widths[0] * (1 + widths[1] * widths[2])
    if versions > MAX_COUNT:
        raise ValueError(
            f"drafts * (1 + feedbacks * edits) makes {versions} versions, more than {MAX_COUNT} (MAX_COUNT)"
        )
    return widths
