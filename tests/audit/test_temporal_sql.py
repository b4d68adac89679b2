"""The dialect layer: the index's SQLite statements as PostgreSQL runs them (and runs them).
The tables and indexes are not translated: each dialect's are written out
(projections/temporal_schema.py, tests/audit/test_schema.py)."""

from __future__ import annotations

import os

import psycopg
import pytest

from projections.temporal_sql import translate

CASES = [
    ("SELECT app_id FROM apps WHERE app_id=?", "SELECT app_id FROM audit_apps WHERE app_id=%s"),
    ("SELECT 1 FROM cred_periods c WHERE c.start <= :t AND (c.end IS NULL OR c.end > :t)",
     'SELECT 1 FROM audit_cred_periods c WHERE c.start <= %(t)s AND (c."end" IS NULL OR c."end" > %(t)s)'),
    ("SELECT MIN(start_pos), COUNT(*) - COUNT(end) FROM cred_periods",
     'SELECT MIN(start_pos), COUNT(*) - COUNT("end") FROM audit_cred_periods'),
    ("SELECT CASE WHEN until IS NULL THEN 1 ELSE 0 END, end FROM grant_periods",
     'SELECT CASE WHEN until IS NULL THEN 1 ELSE 0 END, "end" FROM audit_grant_periods'),
    ("INSERT OR REPLACE INTO meta VALUES (?, ?)",
     "INSERT INTO audit_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
    ("INSERT OR REPLACE INTO chain VALUES (?, ?)",
     "INSERT INTO audit_chain VALUES (%s, %s) ON CONFLICT (block) DO UPDATE SET data = EXCLUDED.data"),
    ("SELECT 'end ? :x 50%' FROM apis WHERE name LIKE '%a'",
     "SELECT 'end ? :x 50%%' FROM audit_apis WHERE name LIKE '%%a'"),
]


@pytest.mark.parametrize("sqlite, postgres", CASES)
def test_statements_are_translated(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


def test_a_replace_into_a_table_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no key"):
        translate("INSERT OR REPLACE INTO app_names VALUES (?, ?, ?, ?)")


@pytest.mark.postgres
def test_the_translations_run_on_postgres(request: pytest.FixtureRequest) -> None:
    from projections.temporal_store import TemporalStore

    if "postgres" not in os.environ.get("AUTHLEDGER_TEST_STORES", "sqlite,postgres"):
        pytest.skip("AUTHLEDGER_TEST_STORES excludes postgres")
    pg_url = str(request.getfixturevalue("pg_url"))
    store = TemporalStore(pg_url)  # the tables
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for sqlite, _ in CASES[:-1]:
            params = {"t": 1} if ":t" in sqlite else tuple("x" for _ in range(sqlite.count("?")))
            if sqlite.startswith("INSERT"):
                params = ("k", "v") if "meta" in sqlite else (1, b"x")
            conn.execute(translate(sqlite), params)
