"""scripts/setup.sh (sourced by scripts/run and scripts/test): the .venv, the lock, apt — and
what a newcomer is told when something is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f". {ROOT}/scripts/setup.sh\n{script}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _shims(tmp_path: Path, **scripts: str) -> dict[str, str]:
    bin_ = tmp_path / "shims"
    bin_.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (bin_ / name).write_text("#!/bin/sh\n" + body + "\n")
        (bin_ / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}


def test_apt_without_root_or_sudo_says_which_packages_to_install(tmp_path: Path) -> None:
    env = _shims(tmp_path, id="echo 1000", sudo="exit 1")
    r = _bash("authledger_apt redis-server nginx; echo not reached", env)
    assert r.returncode == 1 and "not reached" not in r.stdout
    assert "needs the Debian packages: redis-server nginx (apt-get install redis-server nginx)" in r.stderr
    assert "run as root, give sudo without a password, or install them yourself" in r.stderr


def _fake_venv(tmp_path: Path, pip_exit: int) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip: boom" >&2; exit {pip_exit}; fi\n'
                      f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return venv


def test_an_up_to_date_venv_is_not_installed_again(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path, pip_exit=3)  # any pip call would fail the script
    env = {**os.environ, "AUTHLEDGER_VENV": str(venv)}
    stamp = _bash("echo \"$(_inputs) test\"", env).stdout.strip()
    (venv / ".authledger-installed").write_text(stamp + "\n")
    for extra in ("", "test"):
        r = _bash(f"authledger_venv {extra}; echo ready", env)
        assert r.returncode == 0 and r.stdout.strip() == "ready" and "installing" not in r.stderr, r.stderr


def test_a_changed_lock_reinstalls_and_a_pip_failure_stops_with_its_own_output(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path, pip_exit=3)
    (venv / ".authledger-installed").write_text("0000 test\n")  # inputs changed since
    r = _bash("authledger_venv test; echo not reached", {**os.environ, "AUTHLEDGER_VENV": str(venv)})
    assert r.returncode == 1 and "not reached" not in r.stdout
    assert "installing authledger with [test]" in r.stderr and "pip: boom" in r.stderr
    assert "pip could not install the project (see above)" in r.stderr
    assert (venv / ".authledger-installed").read_text() == "0000 test\n"  # not marked as installed


def test_too_old_a_python_is_named(tmp_path: Path) -> None:
    env = _shims(tmp_path, python3old="exit 1")
    r = _bash("AUTHLEDGER_PYTHON=python3old authledger_venv; echo not reached", env)
    assert r.returncode == 1 and "needs Python 3.11 or newer as 'python3old'" in r.stderr
