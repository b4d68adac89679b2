"""``authledger migrate``: a SQLite ledger copied into PostgreSQL, proven by the chain digest."""

from __future__ import annotations

import psycopg
import pytest

from ledger.bootstrap import open_ledger
from tests.cli.conftest import Run
from tests.conftest import TEST_KEY

pytestmark = pytest.mark.postgres


def _story(path: str) -> list[tuple]:  # type: ignore[type-arg]
    ledger = open_ledger(path, key=TEST_KEY)
    api = ledger.register_api("acme", "weather").ids["api_id"]
    app = ledger.create_app("bob", "ShopApp", app_key="migrated-key1").ids["app_id"]
    ledger.grant("acme", app, api, "RELEASE")
    ledger.disable_app(app, "bob")
    rows = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in ledger.recorder.select_notifications(1, limit=1000)]
    ledger.close()
    return rows


def test_migrate_copies_positions_and_bytes_and_the_digests_match(run: Run, tmp_path, pg_url: str,  # type: ignore[no-untyped-def]
                                                                   secret_key_env: bytes) -> None:
    src = str(tmp_path / "old.db")
    rows = _story(src)
    r = run("--json", "migrate", "--from", f"sqlite:{src}", "--to", pg_url, "--batch", "3", db=False)
    assert r.code == 0, r.err
    assert r.json["match"] and r.json["events"] == len(rows) and r.json["source_digest"] == r.json["target_digest"]
    target = open_ledger(pg_url, key=TEST_KEY)
    copied = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
              for n in target.recorder.select_notifications(1, limit=1000)]
    assert copied == rows  # positions, ids, versions, topics and the stored bytes (timestamps, actors)
    app = target.get_app(target.app_id_for_key("migrated-key1"))
    assert app.owner == "bob" and not app.enabled
    # New commands continue the log after the copied positions.
    assert target.create_app("bob", "AfterMove").position == len(rows) + 5
    target.close()
    # A second migration into the now non-empty database is refused, and writes nothing.
    again = run("migrate", "--from", f"sqlite:{src}", "--to", pg_url, db=False)
    assert again.code == 5 and "not empty" in again.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_events").fetchone()[0] == len(rows) + 5


def test_migrate_refuses_a_missing_source_and_a_bad_target(run: Run, tmp_path, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate", "--from", f"sqlite:{tmp_path}/none.db", "--to", pg_url, db=False).code == 2
    src = str(tmp_path / "old.db")
    _story(src)
    assert run("migrate", "--from", f"sqlite:{src}", "--to", "mysql://x@y/z", db=False).code == 2


@pytest.mark.sqlite_only  # run() passes --db FILE
def test_db_and_database_url_together_are_invalid(run: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("--database-url", "postgresql://u:p@127.0.0.1:1/x", "api", "list")
    assert r.code == 2 and "mutually exclusive" in r.err


@pytest.mark.sqlite_only  # the store parameter is not used
def test_an_unreachable_postgres_is_exit_7_in_one_line(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLEDGER_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x")
    r = run("api", "list", db=False)
    assert r.code == 7 and r.err.count("\n") == 1 and "event store unavailable" in r.err
