"""A seeded demonstration history (small), its export, and the temporal index to compare with.

The history is written once per store — a SQLite file and (unless AUTHLEDGER_TEST_STORES
leaves it out) a PostgreSQL database — so every report test runs on both: ``demo["db"]`` is
a path or a postgresql:// URL, and the same seed gives the same ids, instants and positions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from projections import export
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import open_index, open_log
from scripts.seed_demo import Demo, seed
from tests.conftest import TEST_KEY

SEED, APPS, OPERATIONS = 11, 10, 260
AT = "2025-08-01T00:00:00Z"
FROM, TO = "2025-05-01T00:00:00Z", "2025-09-01T00:00:00Z"


STORES = [s for s in ("sqlite", "postgres") if s in os.environ.get("AUTHLEDGER_TEST_STORES", "sqlite,postgres")]


@pytest.fixture(scope="session", params=STORES)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The seeded ledger (a file with its key file beside it, or a PostgreSQL database) and an export of it."""
    d = tmp_path_factory.mktemp("demo")
    if request.param == "postgres":
        pool = request.getfixturevalue("pg_pool")
        db = pool.take()
        ledger = open_ledger(db, key=TEST_KEY)
        try:
            history = Demo(ledger, SEED)
            history.play(APPS, OPERATIONS)
        finally:
            ledger.close()
    else:
        db = str(d / "demo.db")
        history = seed(db, seed=SEED, apps=APPS, operations=OPERATIONS)
    exp = str(d / "demo.jsonl")
    log = open_log(db)
    with open(exp, "w", encoding="utf-8") as f:
        export.write(log, f)
    yield {"db": db, "export": exp, "dir": d, "history": history, "store": request.param}
    if request.param == "postgres":
        log.recorder.datastore.close()
        pool.give_back(db)


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
