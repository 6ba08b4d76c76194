"""Lazy public names for capability packages, so ``fieldguide --help`` never imports JAX, Polars or SciPy.

Importing ``fieldguide.<capability>.cli`` runs the package's ``__init__`` first; with eager re-exports that
``__init__`` pulls in the whole capability. Instead a package declares which private module holds each public
name, and the name is imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``; ``where`` maps a public name to its submodule.

    Example (in ``fieldguide/compare/__init__.py``)::

        __getattr__, __dir__ = exports(__name__, {"compare": "_compare", "METRICS": "_metrics"})
    """

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
