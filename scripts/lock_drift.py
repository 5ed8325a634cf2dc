"""Print the packages whose installed version differs from the lock: what `make test-latest` tested anew.

Reads `pip freeze` output on stdin and the lock files named on the command line (stdlib only, so it
runs in any venv). The lock is universal, so a package may be pinned at one version per Python or
platform; any of them counts as locked.

Example:
    .venv-latest/bin/python -m pip freeze | python scripts/lock_drift.py requirements/lock.txt requirements/model.txt
"""

from __future__ import annotations

import re
import sys

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lines: list[str]) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in lines:
        match = _PIN.match(line.strip())
        if match:
            pins.setdefault(re.sub(r"[-_.]+", "-", match[1]).lower(), set()).add(match[2])
    return pins


def main() -> int:
    locked: dict[str, set[str]] = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as lock_file:
            for name, versions in _pins(lock_file.read().splitlines()).items():
                locked.setdefault(name, set()).update(versions)
    installed = _pins(sys.stdin.read().splitlines())
    changed = [
        f"  {name}: {' or '.join(sorted(locked.get(name, set()))) or 'not in the lock'} -> {version}"
        for name, versions in sorted(installed.items())
        for version in versions
        if version not in locked.get(name, set())
    ]
    print("\n".join(changed) if changed else "  none: today's releases are the locked ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
