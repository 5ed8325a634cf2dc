"""The ensemble vote through the drivers that offer it (LangChain only): scripted cases and builders."""

from __future__ import annotations

from typing import Any

from tests.conformance.script import ONE_AT_A_TIME, REFUSED, Case, Runner, Script, scripted_runnable
from ttc_plugins.strategies.steps import drive

_MEMBERS = ("member0", "member1", "member2")


def _drive(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.strategies.ensemble import ensemble_loop

    names = [target for target in _MEMBERS if target in script.targets]
    return lambda question: drive(ensemble_loop(question, members=names), lambda c: script.reply(c.target))


def _langchain(script: Script, options: dict[str, Any]) -> Runner:
    from ttc_plugins.langchain import ensemble

    strategy = ensemble([scripted_runnable(script, target) for target in _MEMBERS if target in script.targets])
    return lambda question: strategy.with_result().invoke(question, ONE_AT_A_TIME)


CASES = [
    Case("ensemble", "majority", {"member0": ["Answer: 5"], "member1": ["Answer: 4"], "member2": ["4.0"]}),
    Case("ensemble", "a-member-fails", {"member0": [TimeoutError("slow")], "member1": ["Answer: 4"]}),
    Case("ensemble", "a-member-refused", {"member0": [REFUSED], "member1": ["Answer: 4"]}),
]

BUILDERS = {"ensemble": {"drive": _drive, "langchain": _langchain}}
