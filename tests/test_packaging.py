"""What ships with the package and what the committed lock promises."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked_here() -> dict[str, str]:
    """The lock's pins that apply to this interpreter (the lock is universal: markers per Python)."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        match = _PIN.match(line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):
            pins[_normal(match[1])] = match[2]
    return pins


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(line) for line in project["dependencies"]]
    for extra, lines in project["optional-dependencies"].items():
        if extra != "all":
            wanted += [Requirement(line) for line in lines]
    return wanted


def test_the_package_is_marked_as_typed():
    # Without py.typed, mypy and pyright report every `import ttc_plugins` as import-untyped.
    assert resources.files("ttc_plugins").joinpath("py.typed").is_file()


def test_the_lock_pins_every_dependency_within_pyprojects_ranges():
    # A range changed in pyproject.toml without `make lock` would install something the lock never saw.
    locked = _locked_here()
    stale = []
    for requirement in _direct_requirements():
        version = locked.get(_normal(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            stale.append(f"{requirement} (locked: {version})")
    assert not stale, "requirements/lock.txt is stale; run `make lock`: " + ", ".join(stale)


def test_every_locked_pin_has_a_hash():
    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    for index, line in enumerate(lines):
        if _PIN.match(line):
            assert lines[index + 1].strip().startswith("--hash=sha256:"), line
