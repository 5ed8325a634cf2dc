"""Every family's conformance cases and builders, gathered from their modules."""

from __future__ import annotations

from tests.conformance import ensemble_cases, sampling_cases, tpo_cases

MODULES = (tpo_cases, sampling_cases, ensemble_cases)
CASES = [case for module in MODULES for case in module.CASES]
BUILDERS = {family: builders for module in MODULES for family, builders in module.BUILDERS.items()}
