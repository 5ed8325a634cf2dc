"""Which framework hooks a ``budget_scope`` enters, loaded only for frameworks the program uses.

A hook makes a framework's unmodified code obey the current budget (LangChain: a callback handler;
DSPy: a wrapper around the configured LM). The core knows each hook only by the name of the
framework it serves and the module that provides it, and imports that module only once the
framework itself has been imported: a DSPy-only program that enters a scope loads nothing of the
LangChain adapter, and a LangChain-only program nothing of DSPy's.

A framework that is installed but not yet imported when a scope is entered may still be imported
inside it (``with budget_scope(b): from langchain_openai import ChatOpenAI ...``). For those, a
one-shot import watcher loads the hook right after the framework's own import finishes, so its
first call is already counted.

Example:
    >>> import sys
    >>> "ttc_plugins.dspy._scope" in active_hook_modules() or "dspy" not in sys.modules
    True
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

__all__ = ["FRAMEWORK_HOOKS", "active_hook_modules", "framework_scopes"]

logger = logging.getLogger(__name__)

# framework module -> the adapter module whose `scope_hook(budget)` returns a context manager.
FRAMEWORK_HOOKS: dict[str, str] = {
    "langchain_core": "ttc_plugins.langchain._scope",
    "dspy": "ttc_plugins.dspy._scope",
}

_watch_lock = threading.Lock()
_watched: set[str] = set()


@cache
def _is_installed(module: str) -> bool:
    # find_spec looks at the import path without importing the package (milliseconds).
    return importlib.util.find_spec(module) is not None


def active_hook_modules() -> list[str]:
    """The hook modules of the frameworks this program has imported so far."""
    return [hook for framework, hook in FRAMEWORK_HOOKS.items() if framework in sys.modules]


def framework_scopes(budget: Any) -> list[contextlib.AbstractContextManager[object]]:
    """Enter-able hooks for ``budget``: one per imported framework; watchers for the others."""
    scopes = []
    for framework, hook_module in FRAMEWORK_HOOKS.items():
        if framework in sys.modules:
            scopes.append(importlib.import_module(hook_module).scope_hook(budget))
        elif _is_installed(framework):
            _watch_import(framework, lambda hook_module=hook_module: importlib.import_module(hook_module))
    return scopes


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Runs ``then`` once, right after ``framework`` has been imported by anyone."""

    def __init__(self, framework: str, then: Callable[[], object]) -> None:
        self.framework = framework
        self.then = then

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != self.framework:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding us again
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, then: Callable[[], object]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        try:
            self._then()
        except Exception:  # never break the user's own import over our hook; say so instead
            logger.warning("could not load the budget hook for %s", module.__name__, exc_info=True)

    def __getattr__(self, name: str) -> Any:  # e.g. get_resource_reader, is_package
        return getattr(self._loader, name)


def _watch_import(framework: str, then: Callable[[], object]) -> None:
    with _watch_lock:
        if framework in _watched:
            return
        _watched.add(framework)
        sys.meta_path.insert(0, _ImportWatcher(framework, then))
