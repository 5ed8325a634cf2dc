"""Clear errors when an adapter's framework is not installed."""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def require(module: str, extra: str, adapter: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra to install.

    Example:
        >>> require("json", extra="core", adapter="ttc_plugins").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{adapter} needs {module.split('.')[0]!r}, which is not installed. "
            f"Install it with: pip install 'ttc-plugins[{extra}]'"
        ) from error


# Settings that stop dependencies from reaching the network on import. litellm (a dependency of DSPy)
# otherwise fetches a price table from GitHub when it is imported, retrying three times.
_OFFLINE_DEFAULTS = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def prefer_offline() -> None:
    """Keep dependencies off the network unless the user has said otherwise (``setdefault`` only)."""
    for name, value in _OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
