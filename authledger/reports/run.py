"""Running a report: its parameters, the source, the format, and an output file that is
either complete or absent (written beside the target and renamed at the end)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from types import ModuleType
from typing import Any

from ledger.errors import InvalidInput, LedgerError
from authledger.reports import (
    access_changes,
    access_review,
    credential_hygiene,
    render,
    separation_of_duties,
    source,
)

REPORTS: dict[str, ModuleType] = {m.NAME: m for m in (access_review, access_changes, credential_hygiene,
                                                         separation_of_duties)}
AT_REPORTS = ("access-review", "credential-hygiene")


def report_module(name: str) -> ModuleType:
    try:
        return REPORTS[name]
    except KeyError:
        raise InvalidInput(f"unknown report {name!r} (one of {', '.join(sorted(REPORTS))})", field="report") from None


def build(name: str, *, db: str | None = None, from_export: str | None = None, at: str | None = None,
          start: str | None = None, end: str | None = None, days: int = 90,
          index: str | None = None) -> dict[str, Any]:
    """The report's document (what ``--format json`` prints); validates everything first."""
    mod = report_module(name)
    if name in AT_REPORTS:
        if start is not None or end is not None:
            raise InvalidInput(f"{name} is for one instant: use --at, not --from/--to", field="from")
        t = source.instant(at, "at") if at is not None else None
    else:
        if at is not None:
            raise InvalidInput(f"{name} is over a period: use --from/--to, not --at", field="at")
        lo, hi = source.window(start, end)
    if name == "credential-hygiene" and days < 0:
        raise InvalidInput("--days must not be negative", field="days")
    q = source.open_queries(db, from_export, index=index)
    if name in AT_REPORTS:
        t = t if t is not None else source.now_micros()
        return mod.build(q, t, days) if name == "credential-hygiene" else mod.build(q, t)
    return mod.build(q, lo, hi)


def generate(name: str, fmt: str = "md", **params: Any) -> str:
    if fmt not in render.FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (one of {', '.join(render.FORMATS)})", field="format")
    mod = report_module(name)
    doc = build(name, **params)
    return render.render(doc, mod.tables(doc), mod.TITLE, fmt)


def write(text: str, out: str | None) -> None:
    """Print, or write ``out`` whole: a temp file in its directory, renamed when complete."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(out) + ".", suffix=".part")
    except OSError as e:
        raise InvalidInput(f"cannot write {out}: {e.strerror}", field="out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a report is an ordinary file
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidInput(message)


def parser(name: str) -> argparse.ArgumentParser:
    mod = report_module(name)
    p = _Parser(prog=f"report_{name.replace('-', '_')}.py", description=(mod.__doc__ or "").split("\n")[0])
    p.add_argument("--db", metavar="PATH|URL", help="ledger: a SQLite file or a postgresql:// URL (default "
                   "$AUTHLEDGER_DATABASE_URL, $AUTHLEDGER_DB or ./authledger.db)")
    p.add_argument("--from-export", metavar="FILE", help="a jsonl export instead of the database")
    if name in AT_REPORTS:
        p.add_argument("--at", metavar="ISO8601", help="the instant, with a timezone (default: now)")
    else:
        p.add_argument("--from", dest="start", metavar="ISO8601", help="window start (with --to; default: all)")
        p.add_argument("--to", dest="end", metavar="ISO8601", help="window end, exclusive")
    if name == "credential-hygiene":
        p.add_argument("--days", type=int, default=90, help="N days (default 90)")
    p.add_argument("--format", default="md", help="md, csv, json or html (default md)")
    p.add_argument("--out", metavar="FILE", help="write here (default: stdout)")
    return p


def main(name: str, argv: list[str] | None = None) -> int:
    """A report script: exit 0, or one line on stderr and the error's exit code."""
    try:
        args = vars(parser(name).parse_args(argv))
        out, fmt = args.pop("out"), args.pop("format")
        write(generate(name, fmt, **args), out)
    except LedgerError as e:
        sys.stderr.write(f"{name}: error: {e.message}\n")
        return e.exit_code
    except BrokenPipeError:
        return 0
    return 0
