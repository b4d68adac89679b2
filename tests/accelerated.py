"""What every test of an optional C accelerator needs (authledger.gateway._digest, projections._check):
the module is built (scripts/test installs a compiler), the folder's suite passes on the
pure-Python reference, and repeated calls leave no memory behind."""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from projections.accelerator import PURE_PYTHON_ENV

ROOT = Path(__file__).parents[1]

def assert_built(module: str, accelerated: bool) -> None:
    """A silent fallback to pure Python must not hide a broken build (the install is optional,
    the test suite's is not: scripts/test makes sure a compiler is there)."""
    assert importlib.import_module(module) is not None
    if not os.environ.get(PURE_PYTHON_ENV):
        assert accelerated

def pure_python(code: str) -> list[str]:
    """What ``python -c code`` prints (split) with the reference forced."""
    env = {**os.environ, PURE_PYTHON_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()

def assert_suite_passes_pure(folder: str) -> None:
    """Run ``tests/<folder>`` again in a subprocess on the pure-Python reference."""
    env = {**os.environ, PURE_PYTHON_ENV: "1", "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"tests/{folder}"],
                         check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout

def memory_growth(work: Callable[[], None], *, warm: int, rounds: int = 20_000) -> int:
    """Bytes still allocated after ``rounds`` calls of ``work`` (after ``warm`` unmeasured ones)."""
    for _ in range(warm):
        work()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            work()
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()

STANDARD_STAGES = ("RELEASE", "PRE", "TEST")

def flat_table_model(index: Any) -> list[tuple[str, str, int, tuple[float | None, ...]]]:
    """What the C check's flat table must hold, worked out in plain Python from the index's
    dicts (the rule of projections/_check.c's flat_entry): one entry per (AppKey, API id) of
    the grants of the app the key names, for plain cases only — exact ASCII str ids of at
    most 85 bytes together, exact dicts, str stage names, float ends of the standard stages."""
    from projections.auth_index import _App

    out = []
    for key, app in index._keys.items():
        if type(app) is not _App or type(app.grants) is not dict:
            continue
        for api, stages in app.grants.items():
            if not (type(key) is str and type(api) is str and key.isascii() and api.isascii()
                    and len(key) + len(api) <= 85):
                continue
            if type(stages) is not dict or any(type(s) is not str for s in stages):
                continue
            if any(type(stages[s]) is not float for s in STANDARD_STAGES if s in stages):
                continue
            out.append((key, api, id(app), tuple(stages.get(s) for s in STANDARD_STAGES)))
    return sorted(out)

def assert_flat_table_true(index: Any) -> None:
    """The C check's flat table (a cache kept by re-syncing after each change) holds exactly
    what the model says, and exactly what rebuilding it from scratch gives. A no-op when
    the index runs on the pure-Python reference."""
    flat_items = getattr(index.check, "flat_items", None)
    if flat_items is None:
        return

    def held() -> list[tuple[str, str, int, tuple[float | None, ...]]]:
        return sorted((k, a, id(app), ends) for k, a, app, ends in flat_items())
    incremental = held()
    assert incremental == flat_table_model(index)
    index.check.rebuild()
    assert held() == incremental
