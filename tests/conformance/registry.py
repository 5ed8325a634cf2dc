"""Every family's conformance cases and builders, gathered from their modules, and the drivers they run on."""

from __future__ import annotations

from tests.conformance import (
    ensemble_cases,
    feedback_edit_cases,
    proposal_cases,
    refine_cases,
    sampling_cases,
    tpo_cases,
)

MODULES = (tpo_cases, refine_cases, feedback_edit_cases, sampling_cases, ensemble_cases, proposal_cases)
CASES = [case for module in MODULES for case in module.CASES]
BUILDERS = {family: builders for module in MODULES for family, builders in module.BUILDERS.items()}
DRIVERS = ("langchain", "langgraph", "dspy")
