"""Shared fixtures: ledgers on real SQLite files or PostgreSQL databases (and in memory), a fixed key.

The store is a parameter: in the directories listed in ``PG_DIRS`` every test that uses
``db_path`` or ``ledger`` (through the ``store`` fixture) runs twice, ``[sqlite]`` and
``[postgres]``; ``db_path`` is then a SQLite file path or a postgresql:// URL (both
accepted wherever a ledger is opened). A test that is about the SQLite file itself is
marked ``@pytest.mark.sqlite_only``. One throwaway PostgreSQL server (tests/pg.py) runs per
session, started on first use; each test gets a fresh database (recycled: its schema is
dropped and re-created after the test). ``AUTHLEDGER_TEST_STORES=sqlite`` runs SQLite only.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ledger.application import Ledger
from ledger.bootstrap import open_ledger

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TEST_KEY = bytes(range(32))

# The `run` fixture (the CLI in-process against the test's ledger) for every folder.
pytest_plugins = ["tests.cli_runner"]


@pytest.fixture
def secret_key_env(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("AUTHLEDGER_SECRET_KEY", base64.b64encode(TEST_KEY).decode())
    return TEST_KEY


PG_DIRS = ("ledger", "cli", "projections", "audit")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself; not run on PostgreSQL")
    config.addinivalue_line("markers", "postgres: needs the test PostgreSQL server")


def _stores() -> list[str]:
    return [s for s in os.environ.get("AUTHLEDGER_TEST_STORES", "sqlite,postgres").split(",") if s]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    parts = Path(metafunc.definition.path).parts
    opted = len(parts) >= 2 and parts[-2] in PG_DIRS and "tests" in parts
    if not opted or metafunc.definition.get_closest_marker("sqlite_only"):
        return  # the store fixture defaults to sqlite, ids unchanged
    metafunc.parametrize("store", [s for s in ("sqlite", "postgres") if s in _stores()], indirect=True)


@pytest.fixture(autouse=True)
def _audit_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local audit index of a PostgreSQL ledger (keyed by URL; URLs are recycled) per test."""
    monkeypatch.setenv("AUTHLEDGER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """"sqlite" or "postgres" (parametrised in PG_DIRS)."""
    return str(getattr(request, "param", "sqlite"))


class _PgPool:
    """The session's PostgreSQL server and its recycled test databases."""

    def __init__(self) -> None:
        from tests.pg import PgServer

        self.server = PgServer().start()
        self.free: list[str] = []

    def take(self) -> str:
        return self.free.pop() if self.free else self.server.create_db()

    def give_back(self, url: str) -> None:
        import psycopg

        try:
            with psycopg.connect(url, autocommit=True) as conn:
                # Other sessions of this database (a test's leaked pool) must not keep locks.
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            self.free.append(url)
        except Exception:  # noqa: BLE001 - a database that cannot be reset is dropped instead
            self.server.drop_db(url)


_pg_pool: _PgPool | None = None


@pytest.fixture(scope="session")
def pg_pool() -> Iterator[_PgPool]:
    global _pg_pool
    if _pg_pool is None:
        _pg_pool = _PgPool()
    yield _pg_pool


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _pg_pool
    if _pg_pool is not None:
        _pg_pool.server.stop()
        _pg_pool = None


@pytest.fixture
def pg_url(pg_pool: _PgPool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database's URL."""
    url = pg_pool.take()
    yield url
    pg_pool.give_back(url)


@pytest.fixture
def db_path(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> str:
    """Where the ledger is: a SQLite file path, or (store postgres) a postgresql:// URL."""
    if store == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "ledger.db")


@pytest.fixture
def ledger(db_path: str) -> Iterator[Ledger]:
    """A ledger on a real SQLite file or PostgreSQL database (see ``store``)."""
    app = open_ledger(db_path, key=TEST_KEY)
    yield app
    app.close()


@pytest.fixture
def memory_ledger() -> Iterator[Ledger]:
    app = open_ledger(":memory:", key=TEST_KEY)
    yield app
    app.close()


def raw_store_bytes(db_path: str) -> bytes:
    """Every byte the store holds for the ledger: the SQLite files (database, -wal, -shm, not
    the key file), or on PostgreSQL every stored event's and snapshot's columns as the server
    returns them."""
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path) as conn:
            rows = conn.execute("SELECT originator_id::text, originator_version::text, topic, state "
                                "FROM ledger_events ORDER BY notification_id").fetchall()
            if conn.execute("SELECT to_regclass('ledger_snapshots')").fetchone()[0] is not None:
                rows += conn.execute("SELECT originator_id::text, originator_version::text, topic, state "
                                     "FROM ledger_snapshots").fetchall()
        assert rows, "no stored events to scan"
        return b"".join(r[0].encode() + r[1].encode() + r[2].encode() + bytes(r[3]) for r in rows)
    files = [p for p in Path(db_path).parent.iterdir() if p.name.startswith(Path(db_path).name) and not p.name.endswith(".key")]
    assert any(p.name == Path(db_path).name for p in files)
    return b"".join(p.read_bytes() for p in files)
