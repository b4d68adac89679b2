"""The audit index builder's commonest rows in C when it is built, else the pure-Python reference.

``projections._temporal`` (projections/_temporal.c, built by ``pip install -e .``; optional)
applies, for ``TemporalBuilder.fast_apply``, the rows of the topics that make most of a log
— grants given, renewed and revoked, apps disabled and enabled, key pairs and AppCodes reset, and the
topics the builder ignores: it decodes their msgpack state itself and makes exactly the
changes of the Python handlers. It stops at the first row it does not fully understand
(another topic, an app the builder does not hold yet, unexpected types or keys, malformed
bytes, huge instants), which fast_apply then applies in Python before calling it again.
tests/audit/test_temporal_accelerator.py proves the two paths end in the same state.

``AUTHLEDGER_PURE_PYTHON`` set to anything but ``""``/``"0"`` forces the reference (read at
import, ``projections.accelerator.load_native``). ``ACCELERATED`` tells which one is in
use; ``native`` is the C module or None.
"""

from __future__ import annotations

from projections.accelerator import PURE_PYTHON_ENV, load_native

__all__ = ["ACCELERATED", "PURE_PYTHON_ENV", "native"]

native = load_native("projections._temporal")
ACCELERATED = native is not None
