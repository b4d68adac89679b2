"""A full disk: a refused write says nothing was applied; reads answer or say why.

The ledger lives on a real tmpfs of a few MiB that the test fills to the last byte, so
SQLite meets ENOSPC exactly as it would on a full production disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.bootstrap import open_ledger
from ledger.tokens import issue_token
from authledger.service.app import create_app
from tests.cli_runner import Result
from tests.service.conftest import Admin, TestClient


class Disk:
    """A small tmpfs that can be filled to the last byte and emptied again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        for name, size in (("filler", 65536), ("crumbs", 1)):  # then the last partial page
            fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
        assert os.statvfs(self.root).f_bavail == 0

    def free(self) -> None:
        for name in ("filler", "crumbs"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, f"the full-disk tests mount a tmpfs (as root): {mounted.stderr}"
    try:
        yield Disk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def cli(disk: Disk, secret_key_env: bytes, capsys: pytest.CaptureFixture[str]) -> object:
    from authledger.cli.main import main

    db = str(disk.root / "ledger.db")

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(["--db", db, *args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def test_a_write_on_a_full_disk_says_nothing_was_applied_and_applies_nothing(cli: object, disk: Disk) -> None:
    run = cli  # type: ignore[assignment]
    assert run("app", "create", "--owner", "acme", "--name", "first").code == 0
    before = run("--json", "export").out
    disk.fill()
    r = run("app", "create", "--owner", "acme", "--name", "second")
    assert r.code == 7 and "is full" in r.err and "nothing was" in r.err, r.err
    assert "may" not in r.err and "internal error" not in r.err and "Traceback" not in r.err
    j = run("--json", "app", "create", "--owner", "acme", "--name", "second")
    assert j.code == 7 and '"error": "store_full"' in j.err
    disk.free()
    assert run("--json", "export").out == before  # nothing was applied
    names = [a["name"] for a in run("--json", "app", "list", "--owner", "acme").json["apps"]]
    assert names == ["first"]


@pytest.mark.parametrize("command", [
    ["digest"], ["verify-log"], ["export"], ["report", "access-review"], ["app", "list", "--owner", "acme"],
])
def test_reads_on_a_full_disk_answer_or_say_why(cli: object, disk: Disk, command: list[str]) -> None:
    run = cli  # type: ignore[assignment]
    assert run("app", "create", "--owner", "acme", "--name", "first").code == 0
    disk.fill()
    r = run(*command)
    if command == ["verify-log"] and r.code == 3:  # an answer: no index had recorded a chain yet
        assert "not verified" in r.err
    else:
        assert r.code in (0, 7), r.err
    if r.code == 7:
        assert "is full" in r.err and "nothing was written" in r.err
    assert "internal error" not in r.err and "Traceback" not in r.err


def test_the_server_on_a_full_disk_answers_503_store_full_without_a_traceback(
    disk: Disk, secret_key_env: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = open_ledger(str(disk.root / "ledger.db"))
    app = create_app(ledger)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        acme = Admin(client, issue_token(ledger, "acme", "tests").revealed["token"], "acme")
        assert acme.post("/v1/apps", {"name": "first"}).status_code == 201
        disk.fill()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            r = acme.post("/v1/apps", {"name": "second"})
            assert r.status_code == 503 and r.json()["error"] == "store_full", r.text
            assert "nothing was applied" in r.json()["message"]
            for path in ("/v1/audit/digest", "/v1/apps"):
                r = acme.get(path)
                assert r.status_code in (200, 503), (path, r.text)
                if r.status_code == 503:
                    assert r.json()["error"] == "store_full"
        assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
        disk.free()
        names = [a["name"] for a in acme.get("/v1/apps").json()["data"]]
        assert names == ["first"]
    finally:
        app.state.service.close()
        ledger.close()


def test_a_key_file_that_cannot_be_written_is_not_left_empty(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty key file left by a failed write made every later command fail to decode it."""
    from ledger.crypto import load_key
    from ledger.errors import InvalidInput

    monkeypatch.delenv("AUTHLEDGER_SECRET_KEY", raising=False)
    disk.fill()
    with pytest.raises(InvalidInput, match="nothing was created"):
        load_key(str(disk.root / "new.db"))
    assert sorted(p.name for p in disk.root.iterdir()) == ["crumbs", "filler"]
    disk.free()
    assert len(load_key(str(disk.root / "new.db"))) == 32
