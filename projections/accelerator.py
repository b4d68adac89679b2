"""The auth index's check in C when it is built, else the pure-Python reference.

``projections._check`` (projections/_check.c, built by ``pip install -e .``; optional)
answers ``AuthIndex.check`` (AppKey kind) and ``AuthIndex.check_app`` with exactly the
semantics of the Python methods, returning the same cached Decision objects; every call it
does not handle itself (other kinds, non-str ids, unusual arguments) goes to the Python
method. tests/projections/test_check_accelerator.py proves them equal with hypothesis.

``AUTHLEDGER_PURE_PYTHON`` set to anything but ``""``/``"0"`` forces the reference (read at
import; ``load_native`` is the one switch, authledger.gateway.accelerator uses it too). ``ACCELERATED``
tells which one is in use; ``native`` is the C module or None.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["ACCELERATED", "PURE_PYTHON_ENV", "load_native", "native"]

PURE_PYTHON_ENV = "AUTHLEDGER_PURE_PYTHON"


def load_native(name: str) -> ModuleType | None:
    """The optional C module ``name``, unless the reference is forced (``PURE_PYTHON_ENV``)
    or the module was not built. Shared by every accelerator (authledger.gateway.accelerator too)."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


native = load_native("projections._check")
ACCELERATED = native is not None
