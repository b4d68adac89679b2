"""The auth index's check in C when it is built, else the pure-Python reference.

``projections._check`` (projections/_check.c, built by ``pip install -e .``; optional)
answers ``AuthIndex.check`` (AppKey kind) and ``AuthIndex.check_app`` with exactly the
semantics of the Python methods, returning the same cached Decision objects; every call it
does not handle itself (other kinds, non-str ids, unusual arguments) goes to the Python
method. tests/projections/test_check_accelerator.py proves them equal with hypothesis.

``AUTHLEDGER_PURE_PYTHON`` set to anything but ``""``/``"0"`` forces the reference (read at
import, the same switch as gateway.accelerator). ``ACCELERATED`` tells which one is in use;
``native`` is the C module or None.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["ACCELERATED", "PURE_PYTHON_ENV", "native"]

PURE_PYTHON_ENV = "AUTHLEDGER_PURE_PYTHON"


def _load() -> ModuleType | None:
    """Return projections._check unless the reference is forced or the module was not built."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from projections import _check  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _check  # type: ignore[no-any-return]


native = _load()
ACCELERATED = native is not None
