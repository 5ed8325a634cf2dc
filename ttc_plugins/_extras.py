"""Clear errors when an adapter's framework is not installed."""

from __future__ import annotations

import importlib
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
