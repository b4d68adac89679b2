"""The layers only point down (issue 16.1): pyproject.toml's import-linter contract holds.

cli → service | distribution | reports | migrate → gateway → projections → ledger. The
second test proves the contract can fail: the same check over a copy of the packages with
one import running back up (the write side importing the CLI, as ``ledger/cli`` once made
``ledger`` import everything) is refused, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("ledger", "projections", "authledger")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the packages under cwd, not the installed ones
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layering_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_running_back_up_breaks_the_contract(tmp_path):
    work = copy(tmp_path)
    assert lint(work).returncode == 0  # the copy itself is kept
    rules = work / "ledger" / "rules.py"
    rules.write_text(rules.read_text() + "\nfrom authledger.cli import main as _upward  # noqa\n")
    result = lint(work)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "ledger.rules -> authledger.cli.main" in result.stdout


def test_projections_importing_the_gateway_breaks_the_contract(tmp_path):
    work = copy(tmp_path)
    index = work / "projections" / "auth_index.py"
    index.write_text(index.read_text() + "\nimport authledger.gateway.verifier  # noqa\n")
    result = lint(work)
    assert result.returncode != 0
    assert "projections.auth_index -> authledger.gateway.verifier" in result.stdout
