"""Custom AppSecrets and AppCodes reach the CLI without the command line (issue 14, point 5).

Attack: another user of the machine reads ``ps`` / ``/proc/PID/cmdline``, or the shell
history, and learns a custom secret. Each secret option has a ``…-from`` twin reading
``env:NAME``, ``file:PATH`` or ``stdin``; the literal form still works and warns.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Run, make_app

SECRET = "Sourced-Secret-Value-000000000001"
CODE = "SourcedAppCode000000000000000001"


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_a_secret_from_the_environment_a_file_or_stdin_is_the_secret_the_app_gets(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", SECRET)
    r = run("--json", "app", "create", "--owner", "c", "--name", "env_app", "--app-secret-from", "env:MY_SECRET")
    assert r.code == 0, r.err
    assert r.json["app_secret"] == SECRET and "warning" not in r.err

    secret_file = tmp_path / "code.txt"
    secret_file.write_text(CODE + "\n")  # one trailing newline, as `echo` writes it, is not part of it
    r = run("--json", "code", "add", r.json["app_id"], "--actor", "c", "--code-from", f"file:{secret_file}")
    assert r.code == 0, r.err
    assert r.json["app_code"] == CODE

    _stdin(monkeypatch, (SECRET[:-1] + "2\r\n").encode())
    app = make_app(run, "c", "stdin_app")
    r = run("--json", "key", "reset", app["app_key"], "--actor", "c", "--new-app-secret-from", "stdin")
    assert r.code == 0, r.err
    assert r.json["app_secret"] == SECRET[:-1] + "2"


def test_the_literal_form_still_works_and_warns_that_ps_shows_it(run: Run) -> None:
    r = run("--json", "app", "create", "--owner", "c", "--name", "lit_app", "--app-secret", SECRET)
    assert r.code == 0 and r.json["app_secret"] == SECRET
    assert "visible to other users (ps)" in r.err and SECRET not in r.err


@pytest.mark.parametrize("source, says", [
    ("env:AUTHLEDGER_TEST_UNSET", "environment variable AUTHLEDGER_TEST_UNSET is not set"),
    ("file:/nonexistent/secret", "cannot read /nonexistent/secret"),
    ("file:{two_lines}", "more than one line"),
    ("file:{empty}", "is empty"),
    ("file:{huge}", "more than 4096 bytes"),
    ("file:{binary}", "not UTF-8"),
    ("plain-value", "expected env:NAME, file:PATH or stdin"),
])
def test_a_bad_source_is_a_usage_error_that_never_shows_the_value_and_writes_nothing(
        run: Run, tmp_path: Path, position: object, source: str, says: str) -> None:
    files = {"two_lines": f"{SECRET}\nsecond\n", "empty": "", "huge": "x" * 5000}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary").write_bytes(b"\xff\xfe" + SECRET.encode())
    source = source.format(**{n: tmp_path / n for n in (*files, "binary")})
    make_app(run, "c", "first_app")
    before = position()  # type: ignore[operator]
    r = run("app", "create", "--owner", "c", "--name", "bad_app", "--app-secret-from", source)
    assert r.code == 2 and says in r.err and "--app-secret-from" in r.err
    assert SECRET not in r.err and "Traceback" not in r.err
    assert position() == before  # type: ignore[operator]


def test_both_forms_at_once_or_two_options_on_one_stdin_are_refused(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", SECRET)
    r = run("app", "create", "--owner", "c", "--name", "both_app", "--app-secret", SECRET,
            "--app-secret-from", "env:MY_SECRET")
    assert r.code == 2 and "either --app-secret or --app-secret-from" in r.err
    _stdin(monkeypatch, (SECRET + "\n").encode())
    r = run("app", "create", "--owner", "c", "--name", "both_app", "--app-secret-from", "stdin",
            "--app-code-from", "-")
    assert r.code == 2 and "standard input is already read" in r.err


def test_a_secret_from_the_environment_is_not_in_the_process_command_line(tmp_path: Path) -> None:
    # The attack itself: read the running process's argv as any local user can.
    env = {**os.environ, "MY_SECRET": SECRET, "AUTHLEDGER_SECRET_KEY": "", "PYTHONPATH": os.getcwd()}
    env.pop("AUTHLEDGER_SECRET_KEY")
    db = str(tmp_path / "l.db")
    argv = [sys.executable, "-m", "authledger.cli.main", "--db", db, "--json", "app", "create", "--owner", "c",
            "--name", "ps_app", "--app-secret-from", "env:MY_SECRET"]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read it once the exec is done (before, /proc shows the forking parent or nothing).
    deadline = time.monotonic() + 30
    cmdline = b""
    while b"authledger.cli.main" not in cmdline and p.poll() is None and time.monotonic() < deadline:
        try:
            cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes()
        except OSError:
            break
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert SECRET.encode() not in cmdline and b"env:MY_SECRET" in cmdline
    assert SECRET.encode() in out  # shown once, on stdout, to the caller who made it

