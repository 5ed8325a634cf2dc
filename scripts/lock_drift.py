"""Print the packages whose installed version differs from the lock: what `make test-latest` tested anew.

Reads `pip freeze` output on stdin and the lock file named on the command line (stdlib only, so it
runs in any venv).

Example:
    .venv-latest/bin/python -m pip freeze | python scripts/lock_drift.py requirements/lock.txt
"""

from __future__ import annotations

import re
import sys

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        match = _PIN.match(line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as lock_file:
        locked = _pins(lock_file.read().splitlines())
    installed = _pins(sys.stdin.read().splitlines())
    changed = [
        f"  {name}: {locked.get(name, 'not in the lock')} -> {version}"
        for name, version in sorted(installed.items())
        if locked.get(name) != version
    ]
    print("\n".join(changed) if changed else "  none: today's releases are the locked ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
