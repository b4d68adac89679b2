"""Run every benchmark section in scripts/bench/, print one table, write JSON.

A section is any module in scripts/bench/ (other than common.py) with
``run(quick: bool) -> list[Row]``; sections are discovered, so new ones need no change here.

    python scripts/benchmark.py [--quick] [--only SECTION] [--out bench-results/benchmark.json]

A section that raises is reported, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench.common import Row  # noqa: E402

COLUMNS = ("section", "metric", "value", "unit", "peer", "peer value", "ratio", "goal", "met")


def discover() -> dict[str, Callable[[bool], list[Row]]]:
    """Section name -> run function, for every module in scripts/bench/ that has ``run``."""
    import scripts.bench as bench

    found: dict[str, Callable[[bool], list[Row]]] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name in ("common", "__init__") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"scripts.bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[getattr(module, "SECTION", info.name)] = run
    return found


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def table(rows: list[Row]) -> str:
    cells = [COLUMNS] + [
        (r.section, r.metric, fmt(r.value), r.unit, r.peer, fmt(r.peer_value), fmt(r.ratio), r.goal, fmt(r.met))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    numeric = {2, 5, 6}
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(v.rjust(w) if i in numeric and n else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _in_own_process(name: str, quick: bool) -> list[Row]:
    """Run one section in a fresh interpreter: a section that leaves a large heap behind (the
    1M-event builds) otherwise slows the next one's loops through the cyclic collector and
    the allocator (measured: every auth-index rate 2-3x lower right after the audit section)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "section.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--out", str(out)]
        done = subprocess.run(cmd + (["--quick"] if quick else []), stdout=subprocess.DEVNULL)
        if not out.exists():
            raise RuntimeError(f"section process exited with {done.returncode} and wrote no results")
        saved = json.loads(out.read_text())
    error = saved["sections"][name]["error"]
    if error:
        raise RuntimeError(error)
    fields = ("section", "metric", "value", "unit", "peer", "peer_value", "goal", "met")
    return [Row(**{k: r[k] for k in fields}) for r in saved["rows"]]


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows of a saved run as the README's Markdown table."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        cells = (r["section"], r["metric"], fmt(r["value"]), r["unit"], r["peer"], fmt(r["peer_value"]),
                 fmt(r["ratio"]), r["goal"], met)
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--only", action="append", metavar="SECTION", help="run only this section (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "benchmark.json"), help="where to write the JSON")
    parser.add_argument("--markdown-from", metavar="JSON", help="print a saved run's rows as a Markdown table and exit")
    args = parser.parse_args(argv)
    if args.markdown_from:
        try:
            saved = json.loads(Path(args.markdown_from).read_text())
            only = set(args.only or ())
            print(markdown([r for r in saved["rows"] if not only or r["section"] in only]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"cannot read a saved run from {args.markdown_from}: {e}", file=sys.stderr)
            return 2
        return 0

    try:
        sections = discover()
    except Exception:
        traceback.print_exc()
        return 1
    if args.only:
        unknown = [s for s in args.only if s not in sections]
        if unknown:
            print(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(sections)}", file=sys.stderr)
            return 2
        sections = {s: sections[s] for s in args.only}

    rows: list[Row] = []
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name, run in sections.items():
        print(f"[{name}] running{' (quick)' if args.quick else ''}...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        # Each scripts/bench section in a process of its own when there are several (see
        # _in_own_process); a section given any other way runs here.
        isolate = len(sections) > 1 and getattr(run, "__module__", "").startswith("scripts.bench.")
        try:
            got = _in_own_process(name, args.quick) if isolate else list(run(args.quick))
            if not all(isinstance(r, Row) for r in got):
                raise TypeError(f"section {name} returned something other than Row objects")
            rows += got
        except Exception as e:
            failures[name] = f"{type(e).__name__}: {e}"
            print(f"[{name}] FAILED: {failures[name]}", file=sys.stderr)
            traceback.print_exc()
        timings[name] = round(time.perf_counter() - t0, 3)

    print(table(rows))
    for name, error in failures.items():
        print(f"\nsection {name} failed: {error}")

    result = {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "quick": args.quick,
        "command": " ".join(["python", "scripts/benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "sections": {name: {"seconds": timings.get(name), "error": failures.get(name)} for name in sections},
        "rows": [r.to_dict() for r in rows],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
