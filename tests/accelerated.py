"""What every test of an optional C accelerator needs (gateway._digest, projections._check):
the module is built under CI, the folder's suite passes on the pure-Python reference, and
repeated calls leave no memory behind."""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from projections.accelerator import PURE_PYTHON_ENV

ROOT = Path(__file__).parents[1]


def assert_built_under_ci(module: str, accelerated: bool) -> None:
    """Under CI a silent fallback to pure Python must not hide a broken build."""
    if not os.environ.get("CI"):
        pytest.skip("outside CI the accelerator is optional")
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
