"""What every benchmark section reports: a figure next to its floor or peer, as medians."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass
class Row:
    section: str          # e.g. "ledger", "auth index", "audit"
    metric: str           # what was measured, e.g. "check allowed"
    value: float          # the median figure
    unit: str             # e.g. "ops/s", "ms", "events/s", "bytes"
    peer: str = ""        # the floor or peer measured in the same run, e.g. "dict lookup"
    peer_value: float | None = None
    goal: str = ""        # the goal, e.g. ">= 0.5x floor", "< 300 ms"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.peer_value in (None, 0):
            return None
        return self.value / self.peer_value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def median_rate(fn: Callable[[], int], repeats: int = 5) -> float:
    """Median of ``repeats`` runs of ``fn`` (which returns how many operations it did), in ops/s."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


# -- cached benchmark ledgers ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "bench-results"
KEY = bytes(range(32))  # benchmark ledgers only; never a real key
# Bump when the stored event encoding changes, so stale cached ledgers are not measured
# (2: instants as msgpack's native Timestamp).
FORMAT = 2


def cached_ledger(name: str, generate: Callable[[Any], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """A benchmark ledger made once by ``generate(ledger) -> info`` and kept under bench-results/."""
    from ledger.bootstrap import open_ledger

    path = CACHE / f"{name}-f{FORMAT}.db"
    manifest = path.with_suffix(".manifest")
    if path.exists() and manifest.exists():
        return path, json.loads(manifest.read_text())
    CACHE.mkdir(exist_ok=True)
    for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        p.unlink(missing_ok=True)
    ledger = open_ledger(str(path), key=KEY)
    try:
        info = generate(ledger)
    finally:
        ledger.close()
    manifest.write_text(json.dumps(info))
    return path, info
