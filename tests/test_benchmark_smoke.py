"""The benchmark runner works end to end on the ledger section (a smoke test, not a timed one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_ledger_section_writes_rows(tmp_path: Path) -> None:
    out = tmp_path / "benchmark.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--quick", "--only", "ledger", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert rows and {r["section"] for r in rows} == {"ledger"}
    assert result["sections"]["ledger"]["error"] is None
    for row in rows:
        assert row["value"] > 0 and row["unit"] and row["peer"] and row["peer_value"] > 0
    metrics = " ".join(r["metric"] for r in rows)
    for expected in ("create_app", "grant", "disable/enable", "reset_key_pair", "bulk load", "CLI"):
        assert expected in metrics
    assert "ledger" in proc.stdout and "met" in proc.stdout  # the table was printed


def test_a_failing_section_is_reported_and_fails_the_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    try:
        import scripts.benchmark as benchmark
    finally:
        sys.path.remove(str(ROOT))

    def boom(quick: bool) -> list:
        raise RuntimeError("section exploded")

    from scripts.bench.common import Row

    monkeypatch.setattr(benchmark, "discover", lambda: {"bad": boom, "good": lambda quick: [Row("good", "m", 1.0, "x")]})
    out = tmp_path / "b.json"
    assert benchmark.main(["--out", str(out)]) == 1
    result = json.loads(out.read_text())
    assert "section exploded" in result["sections"]["bad"]["error"]
    assert [r["section"] for r in result["rows"]] == ["good"]


def test_a_section_run_in_its_own_process_returns_its_rows() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import scripts.benchmark as benchmark
    finally:
        sys.path.remove(str(ROOT))
    rows = benchmark._in_own_process("ledger", quick=True)
    assert {r.section for r in rows} == {"ledger"}
    assert any(r.metric.startswith("create_app") and r.value > 0 and r.peer_value for r in rows)
