"""The audit index's schema, written once per dialect (projections/temporal_schema.py): both
dialects make the same tables (the columns ``temporal_sql.TABLES`` lists, in that order,
the same keys) and the same indexes, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from projections import temporal_schema
from projections.temporal_sql import KEYED, PREFIX, TABLES
from projections.temporal_store import TemporalStore


def _index_columns(ddl: str) -> tuple[str, str, list[str], str]:
    m = re.fullmatch(r'CREATE INDEX IF NOT EXISTS (\w+) ON (\w+) \(([^)]*)\)(.*)', ddl)
    assert m, ddl
    cols = [c.strip().strip('"') for c in m.group(3).split(",")]
    return m.group(1), m.group(2), cols, m.group(4).replace('"', "").strip()


def test_the_sqlite_file_has_the_tables_and_keys_the_index_writes(tmp_path: Path) -> None:
    store = TemporalStore(str(tmp_path / "a.audit.sqlite"))
    store._create_indexes()
    conn = sqlite3.connect(tmp_path / "a.audit.sqlite")
    for table, cols in TABLES.items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        assert [r[1] for r in info] == [c for c, _t in cols], table
        assert [r[1] for r in info if r[5]] == ([cols[0][0]] if table in KEYED else []), table
    made = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
    assert made == {_index_columns(d)[0] for d in temporal_schema.SQLITE_INDEXES}
    store.close()
    conn.close()


def test_both_dialects_declare_the_same_indexes() -> None:
    sqlite = [_index_columns(d) for d in temporal_schema.SQLITE_INDEXES]
    pg = [_index_columns(d) for d in temporal_schema.POSTGRES_INDEXES]
    assert [(PREFIX + n, PREFIX + t, c, w) for n, t, c, w in sqlite] == pg


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in os.environ.get("AUTHLEDGER_TEST_STORES", "sqlite,postgres"),
                    reason="PostgreSQL stores not selected")
def test_the_postgres_tables_have_the_columns_keys_and_indexes_of_the_sqlite_file(pg_url: str) -> None:
    store = TemporalStore(pg_url)
    store._create_indexes()
    store.close()
    types = {"text": "text", "int": "bigint", "blob": "bytea", "any": "text"}
    with psycopg.connect(pg_url.split("?")[0]) as conn:
        for table, cols in TABLES.items():
            found = conn.execute(
                "SELECT column_name, data_type, collation_name FROM information_schema.columns"
                " WHERE table_name = %s ORDER BY ordinal_position", (PREFIX + table,)).fetchall()
            assert [(c, types[t]) for c, t in cols] == [(n, d) for n, d, _c in found], table
            # byte order, as SQLite compares: the same ORDER BY gives the same rows
            assert all(c == "C" for _n, d, c in found if d == "text" and _n != "value"), table
            key = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (PREFIX + table,)).fetchall()
            assert [k for (k,) in key] == ([cols[0][0]] if table in KEYED else []), table
        made = {n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname NOT LIKE '%%_pkey'"
                                           " AND tablename LIKE 'audit_%%'")}
        assert made == {_index_columns(d)[0] for d in temporal_schema.POSTGRES_INDEXES}
