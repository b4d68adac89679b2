"""What every benchmark section reports: a figure next to its floor or peer, as medians."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
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


def median_seconds(fn: Callable[[], Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
