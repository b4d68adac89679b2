"""Bad input: one line on stderr, exit 2, and no output file (not even a partial one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from authledger.reports import run
from tests.audit.cli_helpers import run as cli
from tests.reports.conftest import AT


def _corrupt(demo: dict[str, Any], tmp_path: Path, how: str) -> str:
    path = tmp_path / f"{how}.jsonl"
    lines = Path(demo["export"]).read_text(encoding="utf-8").splitlines(keepends=True)
    if how == "truncated":
        path.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    elif how == "garbled":
        lines[5] = lines[5][:40] + "\n"
        path.write_text("".join(lines), encoding="utf-8")
    else:
        path.write_bytes(b"\x00\xffnot an export\n")
    return str(path)


def _cases(demo: dict[str, Any], tmp_path: Path) -> list[tuple[str, list[str]]]:
    db = demo["db"]
    return [
        ("access-review", ["--db", db, "--at", "2025-08-01T00:00:00"]),           # no timezone
        ("access-review", ["--db", db, "--at", "yesterday"]),
        ("access-changes", ["--db", db, "--from", "2025-09-01T00:00:00Z", "--to", "2025-08-01T00:00:00Z"]),
        ("access-changes", ["--db", db, "--from", "2025-09-01T00:00:00Z"]),
        ("separation-of-duties", ["--db", db, "--from", "2025-09-01T00:00:00Z", "--to", "2025-09-01T00:00:00Z"]),
        ("access-review", ["--db", str(tmp_path / "missing.db"), "--at", AT]),
        ("credential-hygiene", ["--db", db, "--at", AT, "--days", "many"]),
        ("credential-hygiene", ["--db", db, "--at", AT, "--format", "pdf"]),
        *[("access-review", ["--from-export", _corrupt(demo, tmp_path, how), "--at", AT])
          for how in ("truncated", "garbled", "binary")],
        ("access-review", ["--from-export", str(tmp_path / "nothing.jsonl"), "--at", AT]),
    ]


def test_scripts_fail_in_one_line_and_leave_no_file(demo: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    for name, args in _cases(demo, tmp_path):
        capsys.readouterr()
        code = run.main(name, [*args, "--out", str(outdir / "report.html")])
        out, err = capsys.readouterr()
        assert code == 2, (name, args, err)
        assert out == "" and err.count("\n") == 1 and err.startswith(f"{name}: error: "), err
        assert "Traceback" not in err
        assert os.listdir(outdir) == [], (args, os.listdir(outdir))


def test_the_cli_fails_in_one_line_and_leaves_no_file(demo: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = str(outdir / "r.md")
    cases = [["--db", demo["db"], "report", "access-reveiw", "--at", AT, "--out", out]]
    cases += [["--db", args[1], "report", name, *args[2:], "--out", out] if args[0] == "--db"
              else ["report", name, *args, "--out", out] for name, args in _cases(demo, tmp_path)]
    for argv in cases:
        code, _stdout, err = cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith("authledger: error: "), err
        assert os.listdir(outdir) == []
    code, _, err = cli(capsys, "--db", demo["db"], "report", "nope")
    assert "unknown report 'nope'" in err


def test_a_failure_while_writing_leaves_neither_the_file_nor_a_temp(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.csv"

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        run.write("a,b\n" * 1000, str(target))
    assert os.listdir(tmp_path) == []


def test_a_good_run_writes_the_whole_file(demo: dict[str, Any], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert run.main("access-review", ["--db", demo["db"], "--at", AT, "--format", "json", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == run.generate("access-review", "json", db=demo["db"], at=AT)
    assert sorted(os.listdir(tmp_path)) == ["r.json"]
    # The CLI gives the same bytes as the script.
    code, stdout, _ = cli(capsys, "--db", demo["db"], "report", "access-review", "--at", AT, "--format", "json")
    assert code == 0 and stdout == out.read_text(encoding="utf-8")
    shutil.rmtree(tmp_path / "none", ignore_errors=True)


def test_report_json_flag_gives_the_json_report_or_a_clear_refusal(demo: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    expected = run.generate("access-review", "json", db=demo["db"], at=AT)
    for argv in (["--json", "--db", demo["db"], "report", "access-review", "--at", AT],
                 ["--db", demo["db"], "report", "access-review", "--at", AT, "--json"],
                 ["--db", demo["db"], "report", "access-review", "--at", AT, "--json", "--format", "json"]):
        code, stdout, err = cli(capsys, *argv)
        assert code == 0 and stdout == expected, (argv, err)
    code, stdout, err = cli(capsys, "--db", demo["db"], "report", "access-review", "--at", AT, "--json",
                            "--format", "csv")
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert "cannot be combined with --format csv" in err and "Traceback" not in err
    # Without --json the default stays Markdown.
    code, stdout, _ = cli(capsys, "--db", demo["db"], "report", "access-review", "--at", AT)
    assert code == 0 and stdout == run.generate("access-review", "md", db=demo["db"], at=AT)
