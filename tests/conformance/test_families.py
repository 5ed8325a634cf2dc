"""Every family through every driver on the same scripted replies: the same result, candidates, stop and events.

The reference is the library's test double, ``drive``; each framework's driver must make the same
decisions (the family's core makes them) and the same calls.
"""

from __future__ import annotations

import pytest

from tests.conformance.registry import BUILDERS, CASES, DRIVERS
from tests.conformance.script import Case, Script, view


def _run(case: Case, driver: str) -> tuple[dict, dict]:
    script = Script(case.replies)
    result = BUILDERS[case.family][driver](script, dict(case.options))("Describe it.")
    seen = view(result)
    for candidate in seen["candidates"]:
        for key in case.ignore & candidate.keys():
            del candidate[key]
    return {key: value for key, value in seen.items() if key not in case.ignore}, dict(script.calls)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_driver_makes_the_reference_decisions_with_the_same_calls(case, driver):
    if driver not in BUILDERS[case.family]:
        pytest.skip(f"{case.family} has no {driver} shell")
    expected, expected_calls = _run(case, "drive")
    got, calls = _run(case, driver)
    assert got == expected
    assert calls == expected_calls
