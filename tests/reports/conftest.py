"""A seeded demonstration history (small), its export, and the temporal index to compare with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from projections import export
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import SqliteLog, open_index
from scripts.seed_demo import seed

SEED, APPS, OPERATIONS = 11, 10, 260
AT = "2025-08-01T00:00:00Z"
FROM, TO = "2025-05-01T00:00:00Z", "2025-09-01T00:00:00Z"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The seeded ledger file (its key file beside it) and an export of it."""
    d = tmp_path_factory.mktemp("demo")
    db = str(d / "demo.db")
    history = seed(db, seed=SEED, apps=APPS, operations=OPERATIONS)
    exp = str(d / "demo.jsonl")
    with open(exp, "w", encoding="utf-8") as f:
        export.write(SqliteLog(db), f)
    return {"db": db, "export": exp, "dir": d, "history": history}


@pytest.fixture(scope="session")
def q(demo: dict[str, Any]) -> AuditQueries:
    """The temporal index's queries, opened directly (not through reports/)."""
    store, log = open_index(demo["db"])
    return AuditQueries(store, LedgerEvents(log))


@pytest.fixture(scope="session")
def events(demo: dict[str, Any]) -> list[dict[str, Any]]:
    """The event history, as the export has it (for computations independent of the index)."""
    import json

    with open(demo["export"], encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    return [e for e in lines if "position" in e]


def us(text: str) -> int:
    from datetime import datetime

    from projections.temporal import to_micros

    return to_micros(datetime.fromisoformat(text))


__all__ = ["AT", "FROM", "TO", "Path", "us"]
